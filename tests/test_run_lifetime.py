"""A stopped run takes its workers with it; a work folder serves one run at a time.

Real ``ce2nce`` runs in subprocesses, real signals, real fork server and workers.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ce2nce_pipeline.work_lock import LOCK_NAME, WorkDirInUseError, work_dir_lock

from .conftest import write_dataset

REPO = Path(__file__).resolve().parents[1]
SPACE = "space-MNI152NLin2009cSym"


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent PID) of a process, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def _descendants(pid: int) -> set[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))):
            parents[int(entry.name)] = stat[1]
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _argv(bids: Path, out: Path, work: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ce2nce_pipeline.cli.run",
        str(bids),
        str(out),
        "participant",
        "--mask-backend",
        "template",
        "--no-translation",
        "--skip-bids-validation",
        "-w",
        str(work),
    ]


def _environment() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return os.environ | {"PYTHONPATH": path}


def _start_and_wait_for_a_worker(
    argv: list[str], environment: dict[str, str] | None = None
) -> tuple[subprocess.Popen, set[int]]:
    """Start a run; return once a worker (a grandchild: fork server's child) is computing."""
    run = subprocess.Popen(
        argv, env=environment or _environment(), stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        descendants = _descendants(run.pid)
        if any(_stat(pid) and _stat(pid)[1] in descendants for pid in descendants):
            return run, descendants
        assert run.poll() is None, run.communicate()[1]
        time.sleep(0.2)
    run.kill()
    pytest.fail("no worker started within 240 s")


def _seconds_until_gone(pids: set[int], timeout: float = 15.0) -> float:
    started = time.monotonic()
    while any(_alive(pid) for pid in pids):
        assert time.monotonic() - started < timeout, [pid for pid in pids if _alive(pid)]
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def dataset(tmp_path, colin27_tiny):
    return write_dataset(tmp_path / "bids", {"sub-01/anat/sub-01_T1w.nii.gz": colin27_tiny})


@pytest.mark.slow
def test_sigterm_stops_the_workers_and_a_rerun_completes(dataset, tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    run, workers = _start_and_wait_for_a_worker(_argv(dataset, out, work))
    try:
        # A second run on the same work folder is refused in one line naming the first run.
        second = subprocess.run(
            _argv(dataset, tmp_path / "out2", work),
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert second.returncode == 1
        assert second.stderr.strip().splitlines() == [
            line for line in second.stderr.splitlines() if line.startswith("ce2nce: error: ")
        ]
        assert f"work folder {work} is in use by run PID {run.pid} (started " in second.stderr
        assert "choose another --work-dir" in second.stderr
        assert not (tmp_path / "out2").exists()
        assert run.poll() is None
        run.send_signal(signal.SIGTERM)
        gone_after = _seconds_until_gone(workers | {run.pid})
    finally:
        run.kill()
    _, stderr = run.communicate(timeout=30)
    assert run.returncode == 128 + signal.SIGTERM
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("ce2nce: stopped by SIGTERM")
    assert gone_after < 5, gone_after
    # The same work folder serves a new run, which finishes; no temporary file is left.
    rerun = subprocess.run(
        _argv(dataset, out, work), env=_environment(), capture_output=True, text=True, timeout=580
    )
    assert rerun.returncode == 0, rerun.stderr
    crop = out / "sub-01/anat" / f"sub-01_{SPACE}_res-1x1x1_desc-Crop_T1w.nii.gz"
    assert crop.is_file()
    assert [path.name for path in out.rglob(".*")] == [".bidsignore"]


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT])
def test_workers_die_with_their_run(dataset, tmp_path, stop):
    """SIGKILL (the OOM killer) of the main process, and Ctrl-C, stop every worker."""
    work = tmp_path / "work"
    run, workers = _start_and_wait_for_a_worker(_argv(dataset, tmp_path / "out", work))
    try:
        run.send_signal(stop)
        gone_after = _seconds_until_gone(workers | {run.pid})
    finally:
        run.kill()
        run.communicate(timeout=30)
    assert gone_after < 5, gone_after
    # The lock died with its holder: the work folder is free.
    with work_dir_lock(work):
        pass


def test_a_live_lock_refuses_and_a_stale_one_is_taken_over(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / LOCK_NAME).write_text("999999999 2020-01-01T00:00:00+00:00\n")  # dead, not locked
    with work_dir_lock(work) as lock:
        assert lock.read_text().split()[0] == str(os.getpid())
        with pytest.raises(WorkDirInUseError) as refused:
            with work_dir_lock(work):
                pass
        message = str(refused.value)
        assert len(message.splitlines()) == 1
        assert f"in use by run PID {os.getpid()} (started " in message
    with work_dir_lock(work):  # released on exit
        pass


def _progress_line(run: subprocess.Popen, start: str) -> str:
    """The first line of the run's stderr that starts with ``start``, read as it comes."""
    for line in run.stderr:
        if line.startswith(start):
            return line
    return ""


def _without_work_dir(argv: list[str]) -> list[str]:
    return argv[: argv.index("-w")]


@pytest.mark.slow
def test_progress_reaches_the_pipe_live_and_a_stopped_run_leaves_no_temporary_folder(
    dataset, tmp_path, request
):
    # A short path: multiprocessing's sockets go there (AF_UNIX paths are 107 bytes at most).
    system = Path(tempfile.mkdtemp(prefix="sys", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(system, ignore_errors=True))
    environment = _environment() | {"TMPDIR": str(system)}
    argv = _without_work_dir(_argv(dataset, tmp_path / "out", tmp_path / "work"))
    run = subprocess.Popen(argv, env=environment, stderr=subprocess.PIPE, text=True)
    try:
        # The first progress line is read from the pipe while the run goes on.
        first = _progress_line(run, "ce2nce: ")
        assert first == "ce2nce: 1 T1w images to process (0 contrast-enhanced)\n"
        assert run.poll() is None
        deadline = time.monotonic() + 240
        while not any(path.name.startswith("ce2nce_template_") for path in system.rglob("*")):
            assert run.poll() is None, run.communicate()[1]
            assert time.monotonic() < deadline, "no registration began"
            time.sleep(0.2)
        # The registration's template copy is in the run's own folder, not the system's.
        (run_folder,) = [path for path in system.iterdir() if path.name.startswith("ce2nce_run_")]
        assert any(run_folder.rglob("ce2nce_template_*"))
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=60)
    finally:
        run.kill()
        stderr = run.stderr.read()
        run.stderr.close()
    assert run.returncode == 128 + signal.SIGTERM, stderr
    assert list(system.iterdir()) == []


@pytest.mark.slow
def test_a_killed_run_leaves_its_files_in_the_work_folder_and_the_next_run_clears_them(
    dataset, tmp_path, request
):
    from ce2nce_pipeline.scratch import MIN_AGE_SECONDS, remove_stale_folders

    # A short path: multiprocessing's sockets go there (AF_UNIX paths are 107 bytes at most).
    system = Path(tempfile.mkdtemp(prefix="sys", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(system, ignore_errors=True))
    work = tmp_path / "work"
    environment = _environment() | {"TMPDIR": str(system)}
    run, _ = _start_and_wait_for_a_worker(_argv(dataset, tmp_path / "out", work), environment)
    run.kill()
    run.communicate(timeout=30)
    # Nothing of the run's in the system's folder but its nipype settings, which are stale.
    left = sorted(system.iterdir())
    assert len(left) == 2
    assert left[0].name.startswith("ce2nce_nipype_") and left[1].name.startswith("ce2nce_run_")
    assert not any(left[1].rglob("ce2nce_template_*"))  # its sockets only
    for path in left:
        old = time.time() - 2 * MIN_AGE_SECONDS
        os.utime(path, (old, old))
    assert remove_stale_folders(system) == left
    assert (work / "tmp").is_dir()
    # The next run on the work folder starts from an empty tmp/ folder.
    (work / "tmp" / "ce2nce_template_left").mkdir(exist_ok=True)
    rerun = subprocess.Popen(
        _argv(dataset, tmp_path / "out", work), env=environment, stderr=subprocess.PIPE, text=True
    )
    try:
        assert _progress_line(rerun, "ce2nce: ").startswith("ce2nce: 1 T1w images to process")
        assert not (work / "tmp" / "ce2nce_template_left").exists()
    finally:
        rerun.kill()
        rerun.communicate(timeout=30)
