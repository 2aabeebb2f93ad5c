"""End to end: ``ce2nce-clinica run ce2nce`` on a real head (Colin27 at 2 mm and a brightened
copy as its T1w-ce), a visit whose t1-linear outputs are already in the CAPS, a corrupt image.

Needs the ``clinica`` extra; skipped without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

pytest.importorskip("clinica", reason="the clinica extra is not installed: pip install .[clinica]")

from clinica.utils.testing_utils import build_caps_directory  # noqa: E402

from ce2nce_pipeline.science.templates import CROP_AFFINE  # noqa: E402

from .conftest import tree_checksums, write_dataset  # noqa: E402
from .training import colin_nce  # noqa: E402

pytestmark = pytest.mark.slow

SP = "space-MNI152NLin2009cSym"
CE = "sub-01_ses-M000_ce-gadolinium"
T1_LINEAR = {
    f"{stem}_{SP}_desc-Crop_res-1x1x1_T1w.nii.gz" for stem in ("sub-01_ses-M000", CE)
} | {f"{stem}_{SP}_res-1x1x1_{end}" for stem in ("sub-01_ses-M000", CE)
     for end in ("T1w.nii.gz", "affine.mat")}  # fmt: skip
REUSED_CROP = f"sub-02_ses-M000_{SP}_desc-Crop_res-1x1x1_T1w.nii.gz"


def _ce2nce_files(stem: str, synthetic: bool) -> set[str]:
    base = f"{stem}_{SP}_res-1x1x1"
    files = {f"{base}_desc-brain_mask.nii.gz", f"{base}_dseg.nii.gz", f"{base}_dseg.tsv",
             f"{base}_volumes.tsv"} | {f"{base}_label-{t}_probseg.nii.gz" for t in ("GM", "WM", "CSF")}  # fmt: skip # noqa: E501
    if synthetic:
        files |= {f"{stem}_{SP}_desc-synthetic_res-1x1x1_T1w.nii.gz",
                  f"{base}_desc-syntheticbrain_mask.nii.gz", f"{base}_desc-synthetic_dseg.nii.gz",
                  f"{base}_desc-synthetic_dseg.tsv", f"{base}_desc-synthetic_volumes.tsv",
                  f"{base}_desc-union_mask.nii.gz", f"{base}_desc-flipsd_T1w.nii.gz"}  # fmt: skip
        files |= {f"{base}_label-{t}_desc-synthetic_probseg.nii.gz" for t in ("GM", "WM", "CSF")}
    return files


@pytest.fixture(scope="module")
def identity_checkpoint(tmp_path_factory):
    """A Res-U-Net whose correction is zeroed: its synthetic image is its input."""
    import torch

    from ce2nce_pipeline.models import build_preset, save_checkpoint

    model = build_preset("res_unet", "tiny", global_residual=True)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
    return save_checkpoint(
        model, tmp_path_factory.mktemp("ckpt") / "identity",
        normalisation="white-matter", output_resampling="keep-detail",
    )  # fmt: skip


def _update_json(path, **fields):
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def _ce2nce_clinica(*args, cwd):
    command = "from ce2nce_pipeline.clinica import main; main()"
    env = {**os.environ, "CLINICA_LOGGING_DIR": str(cwd)}
    return subprocess.run(
        [sys.executable, "-c", command, "run", "ce2nce", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=1200,
    )  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory, colin27_2mm, identity_checkpoint):
    root = tmp_path_factory.mktemp("clinica")
    head = nib.load(colin27_2mm)
    data = head.get_fdata(dtype=np.float32)
    ce = root / "ce.nii.gz"
    nib.save(nib.Nifti1Image(data + 0.5 * np.clip(data - np.percentile(data, 90), 0, None),
                             head.affine), ce)  # fmt: skip
    corrupt = root / "corrupt.nii.gz"
    corrupt.write_bytes(b"\x1f\x8b not a NIfTI")
    bids = write_dataset(root / "bids", {
        "sub-01/ses-M000/anat/sub-01_ses-M000_T1w.nii.gz": colin27_2mm,
        f"sub-01/ses-M000/anat/{CE}_T1w.nii.gz": ce,
        "sub-02/ses-M000/anat/sub-02_ses-M000_T1w.nii.gz": colin27_2mm,
        "sub-03/ses-M000/anat/sub-03_ses-M000_T1w.nii.gz": corrupt,
    })  # fmt: skip
    _update_json(bids / "dataset_description.json", DatasetType="raw")  # Clinica needs it
    # sub-02 already went through Clinica's t1-linear: its outputs are in the CAPS, made from
    # this dataset (Clinica checks that both name the same BIDS version).
    caps = build_caps_directory(
        root / "caps", {"pipelines": {"t1_linear": {}}, "subjects": {"sub-02": ["ses-M000"]}}
    )
    _update_json(caps / "dataset_description.json", BIDSVersion="1.10.0")
    crop, _ = colin_nce()  # Colin27 is in MNI space: its crop box is a t1-linear-like image
    reused = caps / "subjects/sub-02/ses-M000/t1_linear" / REUSED_CROP
    nib.save(nib.Nifti1Image(crop, CROP_AFFINE), reused)
    before = tree_checksums(bids)
    options = ["--model", identity_checkpoint, "--mask-backend", "template", "-np", "2",
               "-wd", root / "work"]  # fmt: skip
    first = _ce2nce_clinica(bids, caps, *options, cwd=root)
    outputs = sorted(p for p in (caps / "subjects").rglob("*") if p.is_file())
    stamps = {path: path.stat().st_mtime_ns for path in outputs}
    second = _ce2nce_clinica(bids, caps, *options, cwd=root)
    return {"bids": bids, "caps": caps, "before": before, "first": first, "second": second,
            "stamps": stamps, "reused": reused, "reused_bytes": reused.read_bytes()}  # fmt: skip


def _folder(runs, subject, pipeline):
    folder = runs["caps"] / "subjects" / subject / "ses-M000" / pipeline
    return {path.name for path in folder.iterdir() if path.suffix != ".json"}


def test_writes_clinicas_t1_linear_names_and_ce2nce_outputs(runs):
    assert _folder(runs, "sub-01", "t1_linear") == T1_LINEAR
    assert _folder(runs, "sub-01", "ce2nce") == _ce2nce_files(
        "sub-01_ses-M000", synthetic=False
    ) | _ce2nce_files(CE, synthetic=True)
    t1_linear = runs["caps"] / "subjects/sub-01/ses-M000/t1_linear"
    assert not list(t1_linear.glob("*.json"))  # Clinica writes no sidecar there
    crop = nib.load(t1_linear / f"{CE}_{SP}_desc-Crop_res-1x1x1_T1w.nii.gz")
    assert crop.shape == (169, 208, 179)
    synthetic = nib.load(
        runs["caps"]
        / "subjects/sub-01/ses-M000/ce2nce"
        / f"{CE}_{SP}_desc-synthetic_res-1x1x1_T1w.nii.gz"  # noqa: E501
    )
    # The identity network returns its input: the synthetic image is the T1w-ce's crop.
    a, b = np.asarray(crop.dataobj, float), np.asarray(synthetic.dataobj, float)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99
    description = json.loads((runs["caps"] / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert "ce2nce" in [p["Name"] for p in description["Processing"]]


def test_existing_t1_linear_outputs_are_reused_not_recomputed(runs):
    assert runs["reused"].read_bytes() == runs["reused_bytes"]
    assert _folder(runs, "sub-02", "t1_linear") == {
        REUSED_CROP,
        f"sub-02_ses-M000_{SP}_res-1x1x1_affine.mat",  # Clinica's own fake files
    }
    assert _folder(runs, "sub-02", "ce2nce") == _ce2nce_files("sub-02_ses-M000", synthetic=False)
    volumes = (runs["caps"] / "subjects/sub-02/ses-M000/ce2nce"
               / f"sub-02_ses-M000_{SP}_res-1x1x1_volumes.tsv").read_text()  # fmt: skip
    assert "GM" in volumes


def test_a_corrupt_image_fails_alone(runs):
    first = runs["first"]
    assert first.returncode == 1, first.stdout + first.stderr
    assert "sub-03_ses-M000_T1w.nii.gz: cannot be read as NIfTI" in first.stdout + first.stderr
    assert "1 visit(s) not done: sub-03_ses-M000" in first.stderr
    assert not (runs["caps"] / "subjects" / "sub-03").exists()
    assert "Traceback" not in first.stderr


def test_second_run_skips_visits_done(runs):
    second = runs["second"]
    assert "sub-01 ses-M000" in second.stdout + second.stderr  # Clinica's "already processed"
    for path, stamp in runs["stamps"].items():
        assert path.stat().st_mtime_ns == stamp, f"{path} was rewritten"
    assert "1 visit(s) not done: sub-03_ses-M000" in second.stderr


def test_bids_input_is_unchanged(runs):
    assert tree_checksums(runs["bids"]) == runs["before"]
    assert not (runs["bids"].parent / "bids_clinica_compliant").exists()
