"""Where a run's temporary files go, so that a stopped or killed run leaves none behind.

Every temporary file of a participant run (the template copies and registration files of
t1-linear, Atropos' files, pybids' index link, the report's figures, the nipype work folder of a
run without ``--work-dir``) is made through :mod:`tempfile`, in the process or in its workers.
:func:`run_scratch` points :mod:`tempfile` and ``TMPDIR`` (which the workers inherit) at one
folder per run:

* with a work folder, ``WORK_DIR/tmp``: emptied when the run starts and ends (the work folder's
  lock lets one run at a time use it), so a killed run leaves its files there, not in ``/tmp``;
* without one, ``ce2nce_run_<random>`` in the system's temporary folder, removed when the run
  ends (SIGTERM, SIGINT and SIGHUP included).

multiprocessing's sockets (the fork server's) need a short path: they go to a
``ce2nce_run_<random>`` folder of the system's temporary folder in either case.

A run killed outright (SIGKILL, the OOM killer) removes nothing. Each folder made here holds a
``flock`` for the life of its process; the kernel releases it when the process dies, and the next
ce2nce command removes the folders of the system's temporary folder whose lock is free
(:func:`remove_stale_folders`).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import multiprocessing.util
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

LOGGER = logging.getLogger("ce2nce")

#: Prefix of every folder this module makes in the system's temporary folder.
PREFIX = "ce2nce_"
#: Name of the lock file in each of them.
LOCK_NAME = ".ce2nce_scratch.lock"
#: A folder younger than this may still be taking its lock: never removed as stale.
MIN_AGE_SECONDS = 60.0

#: Lock file descriptors of this process's folders (held until it exits).
_held: dict[str, int] = {}


def _lock(folder: Path) -> int | None:
    """Take ``folder``'s lock without waiting; its descriptor, or ``None`` when it is held."""
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def locked_folder(prefix: str, parent: Path | None = None) -> Path:
    """A new folder ``<prefix><random>`` whose lock this process holds until it exits.

    Parameters
    ----------
    prefix
        Starts with :data:`PREFIX` (``ce2nce_nipype_``).
    parent
        Where to make it (default: the system's temporary folder).
    """
    if not prefix.startswith(PREFIX):
        raise ValueError(f"prefix {prefix!r} must start with {PREFIX!r}")
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent or _system_temporary_folder()))
    fd = _lock(folder)
    if fd is not None:
        _held[str(folder)] = fd
    return folder


def release_folder(folder: Path) -> None:
    """Remove a folder made by :func:`locked_folder` and drop its lock."""
    shutil.rmtree(folder, ignore_errors=True)
    fd = _held.pop(str(folder), None)
    if fd is not None:
        os.close(fd)


def _system_temporary_folder() -> Path:
    """The system's temporary folder, as ``TMPDIR`` (or the platform) names it."""
    for name in ("TMPDIR", "TEMP", "TMP"):
        if os.environ.get(name) and Path(os.environ[name]).is_dir():
            return Path(os.environ[name])
    return Path(tempfile.gettempdir())


def remove_stale_folders(parent: Path | None = None) -> list[Path]:
    """Remove the ``ce2nce_*`` folders of ``parent`` left by processes that died.

    A folder is stale when it holds a lock file that no live process holds, and is older than
    :data:`MIN_AGE_SECONDS`. Folders of live runs, and folders without a lock file, are kept.

    Returns
    -------
    list of Path
        The folders removed.
    """
    parent = Path(parent or _system_temporary_folder())
    removed = []
    with contextlib.suppress(OSError):
        candidates = sorted(parent.glob(f"{PREFIX}*"))
        for folder in candidates:
            if str(folder) in _held or not (folder / LOCK_NAME).is_file():
                continue
            with contextlib.suppress(OSError):
                if time.time() - folder.stat().st_mtime < MIN_AGE_SECONDS:
                    continue
                fd = _lock(folder)
                if fd is None:
                    continue
                try:
                    shutil.rmtree(folder, ignore_errors=True)
                finally:
                    os.close(fd)
                removed.append(folder)
    for folder in removed:
        LOGGER.info("removed %s, left by a killed run", folder)
    return removed


def _empty(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)


def _pin_multiprocessing_folder(folder: Path) -> Path:
    """Make multiprocessing's own temporary folder (its sockets) in ``folder``, now.

    multiprocessing makes it on first use, under ``tempfile``'s folder, and removes it when the
    process exits. Its socket paths must stay short (an ``AF_UNIX`` path is at most 107
    bytes): a deep ``WORK_DIR/tmp`` would make the fork server fail to start.
    """
    previous = tempfile.tempdir
    tempfile.tempdir = str(folder)
    try:
        return Path(multiprocessing.util.get_temp_dir())
    finally:
        tempfile.tempdir = previous


def _release_after_multiprocessing(folder: Path) -> None:
    """Remove ``folder`` now, or after multiprocessing has removed its own folder in it."""
    own = Path(multiprocessing.util.get_temp_dir())
    if folder not in own.parents:
        release_folder(folder)
        return
    for child in folder.iterdir():
        if child != own and child.name != LOCK_NAME:
            shutil.rmtree(child, ignore_errors=True)
    # multiprocessing removes its folder at exit with priority -100; this runs after it.
    multiprocessing.util.Finalize(None, release_folder, args=(folder,), exitpriority=-101)


@contextlib.contextmanager
def run_scratch(work_dir: Path | None) -> Iterator[Path]:
    """Send the run's temporary files, its workers' included, to one folder (module docstring).

    A locked ``ce2nce_run_*`` folder of the system's temporary folder is made in either case:
    it holds multiprocessing's sockets (a short path), and, without a work folder, every
    temporary file.

    Parameters
    ----------
    work_dir
        The run's work folder (``WORK_DIR/tmp`` is used), or ``None`` (a folder in the system's
        temporary folder).

    Yields
    ------
    Path
        The folder, also ``tempfile.gettempdir()`` and ``$TMPDIR`` for the block.
    """
    system = _system_temporary_folder()
    remove_stale_folders(system)
    run_folder = locked_folder(f"{PREFIX}run_", system)
    _pin_multiprocessing_folder(run_folder)
    folder = run_folder
    if work_dir is not None:
        folder = Path(work_dir) / "tmp"
        _empty(folder)
    previous_environment, previous_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = str(folder)
    try:
        yield folder
    finally:
        tempfile.tempdir = previous_tempdir
        if previous_environment is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = previous_environment
        if work_dir is not None:
            shutil.rmtree(folder, ignore_errors=True)
        _release_after_multiprocessing(run_folder)


def process_folder(prefix: str) -> Path:
    """A locked folder for the life of this process, removed at its exit (stale if killed)."""
    folder = locked_folder(prefix)
    atexit.register(release_folder, folder)
    return folder
