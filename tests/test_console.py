"""Progress lines reach a pipe or a file as they are written, not when the process ends."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: A process whose stderr is block-buffered (as a stream some wrapper swapped in), that shows
#: a progress line and then waits for its stdin to close.
PROGRAM = """
import io, sys
sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False), 65536),
                              write_through=False, line_buffering=False)
from ce2nce_pipeline.cli.run import _configure_logging
from ce2nce_pipeline.console import progress, say
_configure_logging(0)
progress("ce2nce: 1/3 images done (sub-01_T1w in 12 s)")
say("ce2nce: rejected: sub-02_T1w.nii.gz: not a 3D image")
sys.stdin.readline()
"""


def _read_line(stream, timeout: float) -> str:
    """One line from a pipe, or ``""`` when none comes within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(stream.fileno(), 1)
        if not chunk:
            break
        data += chunk
    return data.decode()


def test_progress_lines_reach_a_pipe_while_the_process_runs(tmp_path):
    # Its own temporary folder: a run cleans the folders killed runs left in the system's, and
    # says so on stderr (the suite runs tests side by side, some of which kill runs).
    environment = os.environ | {"PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-c", PROGRAM],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
    )
    try:
        first = _read_line(process.stderr, timeout=120)
        second = _read_line(process.stderr, timeout=30)
        assert process.poll() is None  # read while the process still runs
    finally:
        process.stdin.close()
        process.wait(timeout=60)
        process.stderr.close()
    assert first == "ce2nce: 1/3 images done (sub-01_T1w in 12 s)\n"
    assert second == "ce2nce: rejected: sub-02_T1w.nii.gz: not a 3D image\n"
