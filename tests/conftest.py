"""Shared fixtures: small real T1 images (Colin27 from Debian's mricron-data) and datasets."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel.processing import resample_to_output

os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "2")

# HD-BET flushes denormal floats (100x faster on x86); worker threads inherit the flag only when
# created after it is set, and the test process runs torch long before its first HD-BET call.
import torch  # noqa: E402

torch.set_flush_denormal(True)
os.environ.setdefault("NIPYPE_NO_ET", "1")

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")
COLIN27_BRAIN = Path("/usr/share/mricron/templates/ch2bet.nii.gz")


#: Per-test durations of the last pytest run (setup + call + teardown), slowest first.
DURATIONS_FILE = Path(__file__).resolve().parent.parent / "test-durations.tsv"
_DURATIONS: dict[str, float] = {}


def pytest_runtest_logreport(report) -> None:
    """Add each phase's duration to its test's total."""
    _DURATIONS[report.nodeid] = _DURATIONS.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session, exitstatus) -> None:
    """Write ``test-durations.tsv``: seconds and test id, one test a line, slowest first."""
    if not _DURATIONS or hasattr(session.config, "workerinput"):
        return
    rows = sorted(_DURATIONS.items(), key=lambda item: item[1], reverse=True)
    DURATIONS_FILE.write_text(
        "seconds\ttest\n" + "".join(f"{seconds:.2f}\t{test}\n" for test, seconds in rows)
    )


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module's tests (its results do not depend on the core count)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def require_colin27() -> Path:
    if not COLIN27.is_file():
        pytest.fail(
            f"{COLIN27} missing: apt-get install mricron-data (the README's test command does)"
        )
    return COLIN27


@pytest.fixture(scope="session")
def colin27_2mm(tmp_path_factory) -> Path:
    """Colin27 (real T1 with skull) resampled to 2 mm, float32, to keep ANTs quick."""
    image = resample_to_output(nib.load(require_colin27()), voxel_sizes=(2.0, 2.0, 2.0), order=1)
    data = np.clip(image.get_fdata(dtype=np.float32), 0, None)
    path = tmp_path_factory.mktemp("colin27") / "colin27_2mm.nii.gz"
    nib.save(nib.Nifti1Image(data, image.affine), path)
    return path


@pytest.fixture(scope="session")
def colin27_tiny(tmp_path_factory) -> Path:
    """Colin27 at 8 mm: a real, very small image for discovery and CLI tests."""
    image = resample_to_output(nib.load(require_colin27()), voxel_sizes=(8.0, 8.0, 8.0), order=1)
    path = tmp_path_factory.mktemp("colin27_tiny") / "colin27_8mm.nii.gz"
    nib.save(nib.Nifti1Image(image.get_fdata(dtype=np.float32), image.affine), path)
    return path


def write_dataset(root: Path, files: dict[str, Path | None], sidecars: dict | None = None) -> Path:
    """A minimal valid BIDS dataset: ``files`` maps relative paths to source images to copy."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "ce2nce test", "BIDSVersion": "1.10.0", "Authors": ["ce2nce"]})
    )
    (root / "README").write_text("Test dataset built from Colin27 (mricron-data).\n")
    subjects = sorted({relative.split("/")[0] for relative in files})
    (root / "participants.tsv").write_text(
        "participant_id\n" + "".join(f"{subject}\n" for subject in subjects)
    )
    for relative, source in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(Path(source).read_bytes())
    for relative, content in (sidecars or {}).items():
        (root / relative).write_text(json.dumps(content))
    return root


def tree_checksums(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative paths), to prove nothing was written."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def fake_translation_model(checkpoint: Path, **fields):
    """A translation model as a graph takes it, for graphs that are built but not run.

    Its weights digest is zeros; ``fields`` override the other settings (architecture
    ``res_unet``, ``white-matter`` normalisation, 128³ grid, ``keep-detail``).
    """
    from ce2nce_pipeline.models.translation import TranslationModel

    settings = {
        "architecture": "res_unet",
        "weights_sha256": "0" * 64,
        "normalisation": "white-matter",
        "network_grid": "128x128x128",
        "output_resampling": "keep-detail",
    }
    return TranslationModel(checkpoint=Path(checkpoint), **(settings | fields))


def session_images(folder: Path, *, subject: str = "01", session: str | None = "M000"):
    """A T1w-nce and a T1w-ce of one session (files under ``folder``, not read)."""
    from ce2nce_pipeline.bids import T1wImage

    prefix = f"sub-{subject}" + (f"/ses-{session}" if session else "")
    stem = f"sub-{subject}" + (f"_ses-{session}" if session else "")
    entities = {"subject": subject} | ({"session": session} if session else {})
    return [
        T1wImage(folder / "a.nii.gz", f"{prefix}/anat/{stem}_T1w.nii.gz", entities),
        T1wImage(
            folder / "b.nii.gz",
            f"{prefix}/anat/{stem}_ce-gadolinium_T1w.nii.gz",
            entities | {"ceagent": "gadolinium"},
            contrast_agent="gadolinium",
        ),
    ]
