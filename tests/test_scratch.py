"""Temporary folders of runs: one per run, removed at its end, and after a kill by the next run."""

from __future__ import annotations

import multiprocessing.util
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ce2nce_pipeline import scratch

REPO = Path(__file__).resolve().parents[1]
HOLDER = """
import sys, time
from pathlib import Path
from ce2nce_pipeline.scratch import locked_folder
print(locked_folder("ce2nce_run_", Path(sys.argv[1])), flush=True)
time.sleep(600)
"""


def _holder(parent: Path) -> tuple[subprocess.Popen, Path]:
    """A live process holding a scratch folder of ``parent``."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(parent)],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(REPO)},
    )
    return process, Path(process.stdout.readline().strip())


def _age(folder: Path) -> None:
    old = folder.stat().st_mtime - 2 * scratch.MIN_AGE_SECONDS
    os.utime(folder, (old, old))


def test_folders_of_killed_processes_are_removed_and_live_ones_kept(tmp_path):
    killed, killed_folder = _holder(tmp_path)
    live, live_folder = _holder(tmp_path)
    try:
        (killed_folder / "ce2nce_template_x").mkdir()
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        young = tmp_path / "ce2nce_run_young"
        young.mkdir()
        (young / scratch.LOCK_NAME).touch()  # a run that has just made its folder
        unlocked = tmp_path / "ce2nce_other"
        unlocked.mkdir()  # no lock file: not made here, kept
        for folder in (killed_folder, live_folder, unlocked):
            _age(folder)
        assert scratch.remove_stale_folders(tmp_path) == [killed_folder]
        assert not killed_folder.exists()
        assert live_folder.is_dir() and young.is_dir() and unlocked.is_dir()
    finally:
        live.kill()
        live.wait(timeout=30)


@pytest.mark.parametrize("with_work_dir", [True, False])
def test_run_scratch_holds_every_temporary_file_and_is_removed(
    tmp_path, monkeypatch, with_work_dir
):
    system = tmp_path / "system"
    system.mkdir()
    work = tmp_path / "work" if with_work_dir else None
    previous = tempfile.gettempdir()
    monkeypatch.setenv("TMPDIR", str(system))
    with scratch.run_scratch(work) as folder:
        assert os.environ["TMPDIR"] == tempfile.gettempdir() == str(folder)
        with tempfile.TemporaryDirectory(prefix="ce2nce_template_") as made:
            assert Path(made).parent == folder
        Path(tempfile.mkdtemp(prefix="ce2nce_registration_"))  # left behind, in the folder
        if with_work_dir:
            assert folder == work / "tmp"
        else:
            assert folder.parent == system
    assert not folder.exists() or with_work_dir is False
    left = sorted(path.name.rstrip("0123456789") for path in system.rglob("*"))
    # multiprocessing's own folder lives until the process exits (in a test: pytest's); the
    # run's folder holding it goes after it. Nothing else is left.
    sockets = Path(multiprocessing.util.get_temp_dir())
    assert all(
        path == sockets
        or path in sockets.parents
        or path.name == scratch.LOCK_NAME
        or sockets in path.parents
        for path in system.rglob("*")
    ), left
    assert tempfile.gettempdir() == previous
    assert os.environ["TMPDIR"] == str(system)
