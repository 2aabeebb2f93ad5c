"""The official validator's errors on one file reject that file; the other images are processed."""

from __future__ import annotations

import gzip
import subprocess
import sys

import pytest

from ce2nce_pipeline.bids_validation import validator_executable

from .conftest import tree_checksums, write_dataset
from .test_run_lifetime import SPACE, _environment

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        validator_executable() is None, reason="bids-validator-deno is not installed"
    ),
]


def test_files_the_validator_rejects_are_skipped_and_listed(tmp_path, colin27_tiny):
    bids = write_dataset(
        tmp_path / "bids",
        {
            "sub-01/anat/sub-01_T1w.nii.gz": colin27_tiny,
            "sub-02/anat/sub-02_T1w.nii.gz": colin27_tiny,
            "sub-03/anat/sub-03_T1w.nii.gz": colin27_tiny,
        },
    )
    # sub-02: not a NIfTI header (NIFTI_HEADER_UNREADABLE); sub-03: its sidecar is not JSON.
    (bids / "sub-02/anat/sub-02_T1w.nii.gz").write_bytes(gzip.compress(b"not a header" * 40))
    (bids / "sub-03/anat/sub-03_T1w.json").write_text('{"RepetitionTime": ')
    before = tree_checksums(bids)
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "ce2nce_pipeline.cli.run", str(bids), str(out), "participant"]
    argv += ["--mask-backend", "template", "--no-translation", "-w", str(tmp_path / "work")]
    argv += ["-q"]  # the problems only: the summary and the rejected files, no progress lines
    run = subprocess.run(argv, env=_environment(), capture_output=True, text=True, timeout=580)
    assert run.returncode == 1, run.stderr  # some images were rejected
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("ce2nce: ")]
    assert "ce2nce: 1 of 3 T1w image(s) processed; 0 failed, 2 rejected" in lines[0]
    rejected = [line.removeprefix("ce2nce: rejected: ") for line in lines[1:]]
    assert rejected == [
        "sub-02/anat/sub-02_T1w.nii.gz: the BIDS validator reports NIFTI_HEADER_UNREADABLE; "
        "fix or remove the file",
        "sub-03/anat/sub-03_T1w.json: the BIDS validator reports JSON_INVALID (so "
        "sub-03/anat/sub-03_T1w.nii.gz is not processed); fix or remove the file",
    ]
    (log,) = (out / "logs").glob("ce2nce_*_rejected.txt")
    assert log.read_text().splitlines() == rejected
    assert (out / "sub-01/anat" / f"sub-01_{SPACE}_res-1x1x1_desc-Crop_T1w.nii.gz").is_file()
    assert not (out / "sub-02").exists() and not (out / "sub-03").exists()
    assert tree_checksums(bids) == before
