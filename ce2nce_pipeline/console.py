"""The lines a run shows its user on stderr, through :mod:`logging`.

Summaries, rejected and failed images, group-level warnings: one plain line each (no time stamp,
no level), written to whatever ``sys.stderr`` is when the line is emitted. They go through the
``ce2nce.console`` logger, so a program embedding ce2nce can silence or redirect them like any
other log (``logging.getLogger("ce2nce.console")``).

Progress lines (:func:`progress`: each finished stage of an image, the count of images done) go
through its child ``ce2nce.console.progress``: ``ce2nce -q`` raises that logger to WARNING and
only the problems are left.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["CONSOLE", "PROGRESS", "progress", "say"]

#: The logger of user-facing lines.
CONSOLE = logging.getLogger("ce2nce.console")
#: The logger of progress lines (through the handler of :data:`CONSOLE`).
PROGRESS = logging.getLogger("ce2nce.console.progress")


class _StderrHandler(logging.Handler):
    """Writes each record, formatted as its bare message, to the current ``sys.stderr``."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never raise into the run
            self.handleError(record)


if not any(isinstance(handler, _StderrHandler) for handler in CONSOLE.handlers):
    _handler = _StderrHandler()
    _handler.setFormatter(logging.Formatter("%(message)s"))
    CONSOLE.addHandler(_handler)
    CONSOLE.setLevel(logging.INFO)
    CONSOLE.propagate = False


def say(line: str) -> None:
    """Show one line to the user (stderr)."""
    CONSOLE.info(line)


def progress(line: str) -> None:
    """Show one progress line to the user (stderr); silenced by ``-q``."""
    PROGRESS.info(line)
