"""Errors that reach the user as one line naming the file and the fix."""

from __future__ import annotations


class Ce2nceError(Exception):
    """An error caused by the user's input or environment, printed as one line."""


class InvalidInputError(Ce2nceError):
    """An input file or directory that ce2nce cannot use."""


class BackendUnavailableError(Ce2nceError):
    """An optional tool (e.g. SPM, HD-BET) that is not installed."""
