"""Atomic file writers: every output ce2nce writes appears whole or not at all.

A writer fills a temporary file beside its destination and renames it into place, so a crash,
a kill or a full disk never leaves half a file under the final name. The temporary file is
removed on any failure, and by a stopped worker as it exits
(:func:`~ce2nce_pipeline.workers.registered_temporary_file`). No nipype here: the CLI, the group
level, the simulator and the sinks all write through these functions.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import DiskFullError, disk_full_message
from .workers import registered_temporary_file, temporary_prefix

__all__ = [
    "atomic_copy",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "publish",
]


def publish(temporary: str | Path, destination: Path) -> None:
    """Give a finished temporary file the usual permissions and rename it to ``destination``.

    ``tempfile.mkstemp`` creates files readable by their owner only; outputs of a shared
    pipeline must follow the umask like any other file.
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)
    os.replace(temporary, destination)


def _write_atomically(destination: Path, write: Callable[[str], None]) -> None:
    """Run ``write(temporary)`` on a temporary file beside ``destination``, then rename it.

    The temporary file is removed on any failure, and also when a stopped worker exits
    (:func:`~ce2nce_pipeline.workers.registered_temporary_file`).

    Raises
    ------
    DiskFullError
        When the device is full (ENOSPC): one line naming ``destination``.
    """
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=destination.parent, prefix=temporary_prefix(destination)
        )
    except OSError as error:
        _raise_if_disk_full(error, destination)
        raise
    os.close(handle)
    try:
        with registered_temporary_file(temporary):
            write(temporary)
            publish(temporary, destination)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            _raise_if_disk_full(error, destination)
        raise


def _raise_if_disk_full(error: OSError, destination: Path) -> None:
    if error.errno == errno.ENOSPC:
        raise DiskFullError(disk_full_message(destination)) from None


def atomic_copy(source: Path, destination: Path) -> None:
    """Copy ``source`` to ``destination`` through a temporary file and a rename."""
    _write_atomically(destination, lambda temporary: shutil.copyfile(source, temporary))


def atomic_write_bytes(data: bytes, destination: Path) -> None:
    """Write ``data`` to ``destination`` through a temporary file and a rename."""
    _write_atomically(destination, lambda temporary: Path(temporary).write_bytes(data))


def atomic_write_text(text: str, destination: Path) -> None:
    """Write ``text`` (UTF-8) to ``destination`` through a temporary file and a rename."""
    atomic_write_bytes(text.encode("utf-8"), destination)


def atomic_write_json(data: dict[str, Any], destination: Path) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", destination)
