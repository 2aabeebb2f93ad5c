"""Clinica's t1-linear steps on real heads: grid, crop, checked kwargs, registration accuracy."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from nibabel.processing import resample_from_to
from scipy.spatial.transform import Rotation

from ce2nce_pipeline.science.t1_linear import (
    call_with_known_kwargs,
    crop_to_clinica_box,
    n4_bias_correction,
    ras_points_through_transform,
    register_affine,
)
from ce2nce_pipeline.science.templates import (
    CROP_AFFINE,
    CROP_SHAPE,
    MNI2009C_AFFINE,
    MNI2009C_SHAPE,
    place_on_grid,
    registration_template,
)


def test_clinica_grids():
    assert CROP_SHAPE == (169, 208, 179)
    np.testing.assert_array_equal(CROP_AFFINE[:3, 3], [-84.0, -119.0, -78.0])
    np.testing.assert_array_equal(MNI2009C_AFFINE[:3, 3], [-96.0, -132.0, -78.0])
    np.testing.assert_array_equal(np.diag(CROP_AFFINE)[:3], [1.0, 1.0, 1.0])


def test_crop_is_clinicas_box_without_resampling():
    index = np.indices(MNI2009C_SHAPE).astype(np.float32)
    encoded = index[0] * 1e6 + index[1] * 1e3 + index[2]
    cropped = crop_to_clinica_box(nib.Nifti1Image(encoded.astype(np.float64), MNI2009C_AFFINE))
    assert cropped.shape == (169, 208, 179)
    np.testing.assert_array_equal(cropped.affine, CROP_AFFINE)
    data = np.asarray(cropped.dataobj, dtype=np.float64)
    assert data[0, 0, 0] == pytest.approx(12e6 + 13e3 + 0, rel=1e-6)
    assert data[-1, -1, -1] == pytest.approx(180e6 + 220e3 + 178, rel=1e-6)
    # The same world point in both grids holds the same value.
    world = np.array([10.0, -20.0, 30.0, 1.0])
    i, j, k = (np.linalg.inv(CROP_AFFINE) @ world)[:3].astype(int)
    a, b, c = (np.linalg.inv(MNI2009C_AFFINE) @ world)[:3].astype(int)
    assert data[i, j, k] == pytest.approx(encoded[a, b, c], rel=1e-6)


def test_crop_refuses_images_off_the_template_grid():
    with pytest.raises(ValueError, match="not on the"):
        crop_to_clinica_box(nib.Nifti1Image(np.zeros((10, 10, 10), np.float32), np.eye(4)))


def test_place_on_grid_is_an_index_shift():
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    affine = np.eye(4)
    affine[:3, 3] = [2.0, 3.0, 4.0]
    out = place_on_grid(nib.Nifti1Image(data, affine), (5, 6, 8), np.eye(4))
    np.testing.assert_array_equal(out[2:4, 3:6, 4:8], data)
    assert out.sum() == data.sum()
    shifted = affine.copy()
    shifted[0, 3] += 0.5
    with pytest.raises(ValueError, match="whole-voxel"):
        place_on_grid(nib.Nifti1Image(data, shifted), (5, 6, 8), np.eye(4))


def test_registration_template_lies_on_the_2009c_grid():
    template, mask = registration_template()
    assert template.shape == MNI2009C_SHAPE and mask.shape == MNI2009C_SHAPE
    np.testing.assert_array_equal(template.affine, MNI2009C_AFFINE)
    brain = np.asarray(template.dataobj) > 0
    dilated = np.asarray(mask.dataobj) > 0
    assert np.all(dilated[brain])  # the mask contains the whole brain ...
    assert 1.2 < dilated.sum() / brain.sum() < 2.0  # ... dilated by ~10 mm, not the whole box
    # The brain's centre of mass is near the MNI origin (AC), as the 2009 templates are.
    centre = MNI2009C_AFFINE[:3, :3] @ np.argwhere(brain).mean(axis=0) + MNI2009C_AFFINE[:3, 3]
    assert np.all(np.abs(centre - [0.0, -18.0, 8.0]) < 15.0)


def test_unknown_ants_keywords_are_refused():
    import ants

    # Clinica 0.12's --use-antspy typo: antspyx would ignore it and run SyN.
    with pytest.raises(TypeError, match="type_of_transformation"):
        call_with_known_kwargs(ants.registration, None, None, type_of_transformation="Affine")
    with pytest.raises(TypeError, match="spline_distance"):
        call_with_known_kwargs(ants.n4_bias_field_correction, None, spline_distance=600)


def _ants(image: nib.Nifti1Image, tmp_path, name: str):
    import ants

    path = tmp_path / f"{name}.nii.gz"
    nib.save(image, path)
    return ants.image_read(str(path))


def _random_affine(rng: np.random.Generator, centre: np.ndarray) -> np.ndarray:
    """Rotation up to 10 degrees, scaling 0.95-1.05, translation up to 10 mm, about ``centre``."""
    rotation = Rotation.from_rotvec(rng.normal(size=3) / np.sqrt(3) * np.deg2rad(10)).as_matrix()
    linear = rotation @ np.diag(rng.uniform(0.95, 1.05, size=3))
    move = np.eye(4)
    move[:3, :3] = linear
    move[:3, 3] = centre - linear @ centre + rng.uniform(-10, 10, size=3)
    return move


@pytest.mark.slow
def test_moved_head_lands_where_the_unmoved_one_does(colin27_2mm, tmp_path):
    """A real head moved by a known affine comes out of t1-linear at the same place (<= 1 mm)."""
    original = nib.load(colin27_2mm)
    rng = np.random.default_rng(7)
    centre = original.affine[:3, :3] @ (np.array(original.shape) / 2) + original.affine[:3, 3]
    move = _random_affine(rng, centre)
    # Voxel-resample the moved head onto a padded grid: moved(y) = original(move^-1 y).
    padded = original.affine.copy()
    padded[:3, 3] -= 2.0 * 10
    moved = resample_from_to(
        nib.Nifti1Image(original.get_fdata(dtype=np.float32), move @ original.affine),
        (tuple(s + 20 for s in original.shape), padded),
        order=1,
    )
    template, mask = registration_template()
    fixed = _ants(template, tmp_path, "template")
    fixed_mask = _ants(mask, tmp_path, "mask")
    transforms = {}
    for name, image in (("original", original), ("moved", moved)):
        corrected = n4_bias_correction(_ants(image, tmp_path, name))
        transforms[name] = tmp_path / f"{name}_affine.mat"
        warped = register_affine(corrected, fixed, fixed_mask, transforms[name])
        assert warped.shape == MNI2009C_SHAPE
    brain = np.argwhere(np.asarray(template.dataobj) > 0)[::97]
    points = (MNI2009C_AFFINE[:3, :3] @ brain.T).T + MNI2009C_AFFINE[:3, 3]
    in_original = ras_points_through_transform(transforms["original"], points)
    in_moved = ras_points_through_transform(transforms["moved"], points)
    expected = (move[:3, :3] @ in_original.T).T + move[:3, 3]
    rms = float(np.sqrt(np.mean(np.sum((in_moved - expected) ** 2, axis=1))))
    assert rms <= 1.0, f"RMS distance {rms:.2f} mm"
    # And the transform is not the identity: the head really was found and moved.
    assert np.sqrt(np.mean(np.sum((in_moved - in_original) ** 2, axis=1))) > 5.0


@pytest.mark.slow
def test_fast_schedule_lands_within_1mm_of_clinicas_registration(colin27_2mm, tmp_path):
    """The default ``fast`` schedule and ``antsRegistrationSyNQuick[a]`` agree on a real head."""
    template, mask = registration_template()
    fixed = _ants(template, tmp_path, "template")
    fixed_mask = _ants(mask, tmp_path, "mask")
    corrected = n4_bias_correction(_ants(nib.load(colin27_2mm), tmp_path, "colin"))
    moved = {}
    brain = np.argwhere(np.asarray(template.dataobj) > 0)[::97]
    points = (MNI2009C_AFFINE[:3, :3] @ brain.T).T + MNI2009C_AFFINE[:3, 3]
    for schedule in ("fast", "clinica"):
        transform = tmp_path / f"{schedule}.mat"
        warped = register_affine(corrected, fixed, fixed_mask, transform, schedule=schedule)
        assert warped.shape == MNI2009C_SHAPE
        moved[schedule] = ras_points_through_transform(transform, points)
    rms = float(np.sqrt(np.mean(np.sum((moved["fast"] - moved["clinica"]) ** 2, axis=1))))
    assert 0.0 < rms <= 1.0, f"RMS distance {rms:.2f} mm"  # measured 0.36-0.85 mm


def test_unknown_registration_schedule_is_refused(tmp_path):
    from ce2nce_pipeline.workflows.t1_linear import init_t1_linear_wf

    with pytest.raises(ValueError, match="schedule"):
        register_affine(None, None, None, tmp_path / "a.mat", schedule="quick")
    with pytest.raises(ValueError, match="schedule"):
        init_t1_linear_wf(registration="quick")
    for schedule in ("fast", "clinica"):
        workflow = init_t1_linear_wf(registration=schedule)
        assert workflow.get_node("registration").inputs.schedule == schedule
    assert "on fewer levels" in init_t1_linear_wf().__desc__
    assert (
        "as `antsRegistrationSyNQuick.sh -t a`"
        in init_t1_linear_wf(registration="clinica").__desc__
    )
