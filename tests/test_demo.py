"""A small variant of the README's demo runs end to end (2 mm images)."""

from __future__ import annotations

from ce2nce_pipeline.bids import collect_t1w_images, pair_images
from ce2nce_pipeline.bids_validation import validate_dataset
from ce2nce_pipeline.cli.demo import main


def test_small_demo_runs_and_writes_valid_derivatives(tmp_path, capsys):
    assert main([str(tmp_path), "--size", "small"]) == 0
    images = collect_t1w_images(tmp_path / "bids")
    ce = [image for image in images if image.is_contrast_enhanced]
    nce = [image for image in images if not image.is_contrast_enhanced]
    # CDW-like: every subject has a ce image, one session has no nce, others are pairs.
    assert len(ce) == 3 and len(nce) == 2 and len(pair_images(images)) == 2
    out = tmp_path / "derivatives" / "ce2nce"
    crops = sorted(out.rglob("*_desc-Crop_res-1x1x1_T1w.nii.gz"))
    assert len(crops) == len(images)
    assert validate_dataset(tmp_path / "bids") == []
    assert validate_dataset(out) == []
    features = (out / "group" / "features.tsv").read_text().splitlines()
    # Header + the two sessions with a real nce; without a model the ce-only session has no
    # synthetic nce to measure, and the group level says so.
    assert len(features) == 1 + 2
    assert (out / "group" / "validation" / "table2_rAD.tsv").is_file()
    captured = capsys.readouterr()
    assert str(out) in captured.out
    assert "no real T1w-nce and no synthetic T1w-nce" in captured.err
