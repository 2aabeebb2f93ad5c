"""Every name the participant graph writes is a BIDS name the validator checks and accepts."""

from __future__ import annotations

import fnmatch

import nibabel as nib
import numpy as np
import pytest

from ce2nce_pipeline.bids_validation import validate_dataset, validator_executable
from ce2nce_pipeline.derivatives import BIDSIGNORE, write_dataset_description
from ce2nce_pipeline.interfaces.bids_sink import DerivativesDataSink
from ce2nce_pipeline.workflows.base import SubjectSettings, init_single_subject_wf
from ce2nce_pipeline.workflows.outputs import OutputLayout

from .conftest import fake_translation_model, session_images

SPACE = "space-MNI152NLin2009cSym"


def _inputs(tmp_path):
    """A small image, a dseg table, a volumes table and an ANTs affine to store."""
    image = tmp_path / "in.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.float32), np.eye(4)), image)
    dseg_tsv = tmp_path / "in_dseg.tsv"
    dseg_tsv.write_text("index\tname\n1\tCSF\n2\tGM\n3\tWM\n")
    volumes = tmp_path / "in_volumes.tsv"
    volumes.write_text("tissue\tvolume_cm3\nGM\t1.0\n")
    affine = tmp_path / "in.mat"
    affine.write_bytes(b"\0" * 64)
    return {"ds_affine": affine, "ds_dseg_tsv": dseg_tsv, "ds_volumes": volumes}, image


#: Sinks and images of a ce/nce session with translation, by output level: ``full`` also writes
#: the two uncropped images, ``minimal`` no probability map (3 per image, synthetic included).
EXPECTED = {"full": (30, 22), "standard": (28, 20), "minimal": (19, 11)}


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def written(request, tmp_path_factory):
    """Run every sink of a session's graph (a ce and a nce image, with translation)."""
    level = request.param
    tmp_path = tmp_path_factory.mktemp(f"names_{level}")
    out = tmp_path / "out"
    settings = SubjectSettings(
        layout=OutputLayout(output_dir=str(out)),
        software_versions={"ce2nce": "test"},
        translation=fake_translation_model(tmp_path),
        mask_backend="template",
        output_level=level,
    )
    workflow = init_single_subject_wf(
        subject="01", images=session_images(tmp_path), settings=settings
    )
    special, image = _inputs(tmp_path)
    sinks = [
        node
        for node in (workflow.get_node(name) for name in workflow.list_node_names())
        if isinstance(node.interface, DerivativesDataSink)
    ]
    for node in sinks:
        node.interface.inputs.in_file = str(special.get(node.name, image))
        node.interface.run()
    bids = tmp_path / "bids"
    bids.mkdir()
    write_dataset_description(out, bids)
    return out, len(sinks), level


def test_images_use_bids_entity_order(written):
    out, count, level = written
    anat = out / "sub-01" / "ses-M000" / "anat"
    names = {path.name for path in anat.iterdir()}
    assert count == EXPECTED[level][0]
    assert len([n for n in names if not n.endswith(".json")]) == count
    for stem in ("sub-01_ses-M000", "sub-01_ses-M000_ce-gadolinium"):
        assert f"{stem}_{SPACE}_res-1x1x1_desc-Crop_T1w.nii.gz" in names
        assert (f"{stem}_{SPACE}_res-1x1x1_T1w.nii.gz" in names) == (level == "full")
        assert (f"{stem}_{SPACE}_res-1x1x1_label-GM_probseg.nii.gz" in names) == (
            level != "minimal"
        )
    synthetic = f"sub-01_ses-M000_ce-gadolinium_{SPACE}_res-1x1x1_desc-synthetic_T1w.nii.gz"
    assert synthetic in names
    # Clinica's order (desc before res) is for CAPS folders only.
    assert not [name for name in names if "_desc-Crop_res-" in name or "synthetic_res-" in name]


def test_every_level_writes_what_the_group_level_reads(written):
    """The inputs of collect_sessions, QC and reports exist at every level, readable as values."""
    out, _, level = written
    anat = out / "sub-01" / "ses-M000" / "anat"
    ce = f"sub-01_ses-M000_ce-gadolinium_{SPACE}_res-1x1x1"
    for name in (
        f"sub-01_ses-M000_{SPACE}_res-1x1x1_desc-Crop_T1w.nii.gz",
        f"sub-01_ses-M000_{SPACE}_res-1x1x1_desc-brain_mask.nii.gz",
        f"sub-01_ses-M000_{SPACE}_res-1x1x1_dseg.nii.gz",
        f"sub-01_ses-M000_{SPACE}_res-1x1x1_volumes.tsv",
        f"{ce}_desc-Crop_T1w.nii.gz",
        f"{ce}_desc-synthetic_T1w.nii.gz",
        f"{ce}_desc-flipsd_T1w.nii.gz",
        f"{ce}_desc-union_mask.nii.gz",
        f"{ce}_desc-syntheticbrain_mask.nii.gz",
        f"{ce}_desc-synthetic_dseg.nii.gz",
        f"{ce}_desc-synthetic_volumes.tsv",
    ):
        assert (anat / name).is_file(), name
    crop = nib.load(anat / f"{ce}_desc-synthetic_T1w.nii.gz")
    stored = {"full": np.float32, "standard": np.int16, "minimal": np.int16}[level]
    assert crop.get_data_dtype() == stored
    assert np.allclose(crop.get_fdata(), 1.0, atol=1e-4)  # the sinks stored images of ones
    if level == "standard":
        gm = nib.load(anat / f"{ce}_label-GM_desc-synthetic_probseg.nii.gz")
        assert gm.get_data_dtype() == np.uint8 and np.allclose(gm.dataobj.slope, 1 / 255)
        assert np.allclose(gm.get_fdata(), 1.0)


def test_bidsignore_hides_no_image(written):
    out, _, level = written
    patterns = (out / ".bidsignore").read_text().split()
    assert tuple(patterns) == BIDSIGNORE
    images = [path.name for path in out.rglob("*.nii.gz")]
    assert len(images) == EXPECTED[level][1]  # with the flip-uncertainty map of the synthetic
    hidden = [name for name in images if any(fnmatch.fnmatch(name, p) for p in patterns)]
    assert hidden == []


@pytest.mark.skipif(validator_executable() is None, reason="bids-validator-deno not installed")
def test_the_validator_accepts_every_name(written):
    out, _, _ = written
    assert validate_dataset(out) == []
