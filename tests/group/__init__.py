"""Tests of the group level."""
