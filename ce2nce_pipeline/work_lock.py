"""One run per work folder: a lock the kernel releases when its holder dies."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from .errors import Ce2nceError

#: Name of the lock file in the work folder (left in place: removing it would race).
LOCK_NAME = "ce2nce.lock"


class WorkDirInUseError(Ce2nceError):
    """The work folder is locked by another live run."""


def _holder(fd: int) -> str:
    """``PID 1234 (started ...)`` as the holder wrote it, or ``another run``."""
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", errors="replace").split()
    except OSError:
        text = []
    if len(text) >= 2 and text[0].isdigit():
        return f"run PID {text[0]} (started {text[1]})"
    return "another run"


@contextlib.contextmanager
def work_dir_lock(work_dir: Path) -> Iterator[Path]:
    """Hold ``work_dir``'s lock for the duration of the block.

    The lock is a ``flock`` on ``work_dir/ce2nce.lock``; the file holds the holder's PID and
    start time for the message of a refused run. A lock left by a dead run is free: the kernel
    released it with its holder.

    Raises
    ------
    WorkDirInUseError
        When a live run holds the lock.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkDirInUseError(
                f"work folder {work_dir} is in use by {_holder(fd)}: wait for it, "
                "or choose another --work-dir"
            ) from None
        started = datetime.now().astimezone().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {started}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)
