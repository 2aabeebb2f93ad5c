"""Errors that reach the user as one line naming the file and the fix."""

from __future__ import annotations


class Ce2nceError(Exception):
    """An error caused by the user's input or environment, printed as one line."""


class InvalidInputError(Ce2nceError):
    """An input file or directory that ce2nce cannot use."""


class BackendUnavailableError(Ce2nceError):
    """An optional tool (e.g. SPM, HD-BET) that is not installed."""


class DiskFullError(Ce2nceError):
    """No space left on the device of an output or of the work folder."""


def disk_full_message(path: object, folder: str = "output folder") -> str:
    """The one line for ENOSPC while writing ``path``."""
    return f"no space left on device writing {path}: free space or choose another {folder}"
