"""Worker processes that end with their run.

The participant level runs nipype's MultiProc plugin on a ``forkserver`` context: the main
process starts a fork server, which forks the workers. Left alone, a fork server and its
workers outlive a main process stopped by SIGTERM, SIGINT or SIGKILL (the OOM killer) and go on
writing into the work folder. Here:

* the fork server imports :mod:`ce2nce_pipeline._forkserver_guard` first, which puts it and its
  workers in a process group of their own, asks the kernel to send it SIGTERM when the main
  process dies (Linux ``PR_SET_PDEATHSIG``), and stops the whole group on SIGTERM;
* every worker gets SIGKILL when the fork server dies, and on SIGTERM removes the temporary
  files it was writing before it exits;
* the main process, on SIGTERM, SIGINT or SIGHUP, stops the group before it exits
  (:func:`stop_workers_on_signals`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

#: Seconds workers get to remove their temporary files before SIGKILL.
GRACE_SECONDS = 2.0
#: Signals that stop a run (SIGHUP: the terminal closed).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1

#: Temporary files this process is writing (removed when a worker is stopped).
_temporary_files: set[str] = set()
_forker_pid = os.getpid()


# --- temporary files -----------------------------------------------------------------------


def temporary_prefix(destination: Path) -> str:
    """Prefix of a temporary file for ``destination``, naming the writer's host and PID.

    ``.<name>.<host>-<pid>.``: a later run can tell a file left by a dead writer of its host
    (:func:`remove_stale_temporary_files`) from one a live run is writing.
    """
    return f".{destination.name}.{socket.gethostname()}-{os.getpid()}."


@contextlib.contextmanager
def registered_temporary_file(path: str | Path) -> Iterator[None]:
    """Register ``path`` as being written, so that a stopped worker removes it."""
    _temporary_files.add(str(path))
    try:
        yield
    finally:
        _temporary_files.discard(str(path))


def _remove_temporary_files() -> None:
    for path in list(_temporary_files):
        with contextlib.suppress(OSError):
            os.unlink(path)


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporary_files(folder: Path) -> list[Path]:
    """Remove temporary files under ``folder`` left by dead writers of this host.

    Returns
    -------
    list of Path
        The files removed.
    """
    host = socket.gethostname()
    removed = []
    for path in Path(folder).rglob(".*"):
        writer = path.name.rsplit(".", 2)
        if len(writer) != 3 or not path.is_file():
            continue
        writer_host, _, pid = writer[1].rpartition("-")
        if writer_host == host and pid.isdigit() and not _pid_running(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


# --- fork server and workers ---------------------------------------------------------------


def set_parent_death_signal(signum: int) -> bool:
    """Ask the kernel to send ``signum`` to this process when its parent dies (Linux only).

    Returns
    -------
    bool
        False where the platform has no ``prctl``.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _children_running() -> bool:
    """Reap exited children; True while one still runs."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def _stop_own_group(signum, frame) -> None:
    """Fork server: SIGTERM the workers, give them :data:`GRACE_SECONDS`, SIGKILL the group."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.killpg(0, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline and _children_running():
        time.sleep(0.02)
    os.killpg(0, signal.SIGKILL)


def _exit_worker(signum, frame) -> None:
    """Worker: remove the temporary files being written and exit at once."""
    _remove_temporary_files()
    os._exit(128 + signum)


def _remember_forker() -> None:
    global _forker_pid
    _forker_pid = os.getpid()


def _guard_child() -> None:
    """In each process the fork server forks: die with the fork server, clean up on SIGTERM."""
    signal.signal(signal.SIGTERM, _exit_worker)
    set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != _forker_pid:  # the fork server died before the line above
        os._exit(1)


def guard_forkserver() -> None:
    """Run in the fork server before it forks any worker (see the module docstring)."""
    os.setpgid(0, 0)
    if os.getpgid(0) == os.getpid():  # never signal a group that is not the fork server's
        signal.signal(signal.SIGTERM, _stop_own_group)
        set_parent_death_signal(signal.SIGTERM)
    else:
        set_parent_death_signal(signal.SIGKILL)
    os.register_at_fork(before=_remember_forker, after_in_child=_guard_child)


# --- main process --------------------------------------------------------------------------


def prepare_forkserver() -> None:
    """Have the fork server, once started, import the guard before forking any worker."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", "ce2nce_pipeline._forkserver_guard"])


def forkserver_pid() -> int | None:
    """PID of this process's fork server (also its workers' process group), if running."""
    from multiprocessing import forkserver

    return getattr(forkserver._forkserver, "_forkserver_pid", None)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``, read from ``/proc``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _group_running(pgid: int) -> bool:
    if Path("/proc/self/stat").is_file():
        return bool(group_members(pgid))
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_workers(grace: float = GRACE_SECONDS) -> None:
    """Stop the fork server's process group and any worker forked from this process."""
    for child in multiprocessing.active_children():
        child.kill()
    pgid = forkserver_pid()
    if pgid is None:
        return
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace + 1.0
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pgid, os.WNOHANG)  # the fork server is our child: reap it
        if not _group_running(pgid):
            return
        time.sleep(0.02)
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)


@contextlib.contextmanager
def stop_workers_on_signals(message: str) -> Iterator[None]:
    """On SIGTERM, SIGINT or SIGHUP: stop the workers, print ``message``, exit 128 + signal.

    ``message`` may contain ``{signal}`` (e.g. ``SIGTERM``).
    """

    def stop(signum, frame):
        for stop_signal in STOP_SIGNALS:  # a second signal does not interrupt the stopping
            signal.signal(stop_signal, signal.SIG_IGN)
        # The pool reports its killed workers with a traceback: the line below says it all.
        logging.getLogger("concurrent.futures").disabled = True
        stop_workers()
        # A signal handler writes with os.write: print and logging take locks the interrupted
        # code may hold.
        line = message.format(signal=signal.Signals(signum).name) + "\n"
        os.write(2, line.encode())
        raise SystemExit(128 + signum)

    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
