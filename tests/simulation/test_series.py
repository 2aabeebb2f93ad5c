"""A simulated pair as two series: the nce's own acquisition, a rigid motion of the ce."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from ce2nce_pipeline.simulation.anatomy import build_anatomy
from ce2nce_pipeline.simulation.series import (
    MOTION_MAX_DEG,
    MOTION_MAX_MM,
    acquire_nce_series,
    move_rigidly,
)


def _centre_of_mass_mm(image: nib.Nifti1Image) -> np.ndarray:
    voxel = np.array(ndimage.center_of_mass(np.asarray(image.dataobj, dtype=np.float64)))
    return (image.affine @ np.r_[voxel, 1.0])[:3]


def test_motion_moves_the_head_by_the_drawn_translation(colin27_2mm):
    # Padded, so that no part of the head leaves the field of view (Colin27 reaches its edge).
    original = nib.load(colin27_2mm)
    affine = original.affine.copy()
    affine[:3, 3] -= affine[:3, :3] @ np.full(3, 5.0)
    image = nib.Nifti1Image(np.pad(np.asarray(original.dataobj, np.float32), 5), affine)
    moved, motion = move_rigidly(image, seed=4, max_deg=0.0)
    shift = _centre_of_mass_mm(moved) - _centre_of_mass_mm(image)
    np.testing.assert_allclose(shift, motion["translation_mm"], atol=0.3)
    assert np.abs(motion["translation_mm"]).max() <= MOTION_MAX_MM
    assert np.abs(motion["translation_mm"]).max() > 0.3  # a real move, not a no-op
    assert moved.shape == image.shape and np.allclose(moved.affine, image.affine)


def test_motion_is_seeded_and_bounded(colin27_2mm):
    image = nib.load(colin27_2mm)
    first, motion = move_rigidly(image, seed=9)
    again, same = move_rigidly(image, seed=9)
    _, other = move_rigidly(image, seed=10)
    assert motion == same and motion != other
    np.testing.assert_array_equal(np.asarray(first.dataobj), np.asarray(again.dataobj))
    assert np.abs(motion["rotation_deg"]).max() <= MOTION_MAX_DEG


def test_the_nce_gets_an_acquisition_of_its_own(colin27_2mm):
    image = nib.load(colin27_2mm)
    anatomy = build_anatomy(image, space="native")
    acquired, drawn = acquire_nce_series(image, anatomy, seed=3)
    before = np.asarray(image.dataobj, dtype=np.float32)
    after = np.asarray(acquired.dataobj, dtype=np.float32)
    head = before > np.percentile(before, 60)
    # Changed (noise, bias, blur), yet the same image: no contrast change for the reference.
    assert np.abs(after - before)[head].mean() > 0.002 * before[head].mean()
    assert np.corrcoef(after[head], before[head])[0, 1] > 0.9
    assert set(drawn) >= {"noise", "noise_sigma", "bias_field", "blur"}
    again, _ = acquire_nce_series(image, anatomy, seed=3)
    np.testing.assert_array_equal(np.asarray(again.dataobj), after)
    with pytest.raises(KeyError):
        drawn["contrast_change"]


def test_unusable_training_heads_are_named_and_skipped(tmp_path, colin27_2mm, capsys):
    from ce2nce_pipeline.cli.simulate import main

    rng = np.random.default_rng(0)
    flat = tmp_path / "noise.nii.gz"  # uniform noise: no tissue peak
    two_mm = np.diag([2.0, 2.0, 2.0, 1.0])
    nib.save(nib.Nifti1Image(rng.random((100, 120, 100), dtype=np.float32), two_mm), flat)
    small = tmp_path / "small.nii.gz"  # 40 mm across: smaller than the crop box
    nib.save(nib.Nifti1Image(rng.random((20, 20, 20), dtype=np.float32), two_mm), small)
    out = tmp_path / "bids"
    code = main(
        [str(out), "--n-subjects", "1", "--size", "small", "--base", str(flat), str(small),
         str(colin27_2mm)]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0
    assert f"skipped base {flat}" in err and "flat intensity histogram" in err
    assert f"skipped base {small}" in err and "smaller than the t1-linear crop box" in err
    assert len(list(out.rglob("*_T1w.nii.gz"))) == 2  # the good head still made its pair
