"""Anatomy (template mapping, ventricles, head) and the acquisition functions."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from ce2nce_pipeline.science.templates import CROP_AFFINE, CROP_SHAPE, nilearn_template_path
from ce2nce_pipeline.simulation import components as comp
from ce2nce_pipeline.simulation.anatomy import build_anatomy, is_template_grid

from . import colin27


@pytest.fixture(scope="module")
def anatomy():
    return build_anatomy(colin27(3.0), "mni")


def test_anatomy_of_colin27(anatomy):
    levels = anatomy.intensities
    assert levels.wm > levels.gm > levels.csf
    assert anatomy.has_head
    ventricles_cm3 = anatomy.ventricles.sum() * anatomy.voxel_volume / 1000
    assert 5 < ventricles_cm3 < 80
    assert not (anatomy.ventricles & ~anatomy.brain).any()
    assert anatomy.head[anatomy.brain].mean() > 0.99
    assert (anatomy.depth[anatomy.brain] > 0).all() and (anatomy.outside[~anatomy.brain] > 0).all()


def test_mni_coordinates_round_trip(anatomy):
    points = np.array([[0.0, -18.0, 18.0], [40.0, 10.0, -20.0]])
    vox = anatomy.mni_to_voxel(points)
    back = vox @ anatomy.vox2mni[:3, :3].T + anatomy.vox2mni[:3, 3]
    assert np.allclose(back, points)


def test_t1_linear_grid_is_mni_space():
    image = nib.Nifti1Image(np.zeros(CROP_SHAPE, np.float32), CROP_AFFINE)
    assert is_template_grid(image)
    assert not is_template_grid(colin27(3.0))


def test_native_registration_recovers_a_known_shift_and_scale(capsys):
    template = nib.load(nilearn_template_path())
    data = np.asarray(template.dataobj, dtype=np.float32)[::3, ::3, ::3]
    affine = template.affine.copy()
    affine[:3, :3] *= 3.0
    moved = affine.copy()
    moved[:3, :3] *= 1.05
    moved[:3, 3] = affine[:3, 3] * 1.05 + [8.0, -5.0, 4.0]
    anatomy = build_anatomy(nib.Nifti1Image(data, moved), "native")
    expected = affine  # voxel -> MNI of the untouched template
    corners = np.array([[0, 0, 0, 1], [60, 70, 60, 1]], dtype=float).T
    error = (anatomy.vox2mni @ corners - expected @ corners)[:3]
    assert np.abs(error).max() < 3.0
    assert anatomy.space == "native" and anatomy.registration_seconds > 0
    # The units are stated to ANTsPy (the template's time units are unknown): it prints nothing.
    assert nib.load(nilearn_template_path()).header.get_xyzt_units()[1] == "unknown"
    captured = capsys.readouterr()
    assert "NIftI" not in captured.out + captured.err


def test_build_anatomy_rejects_bad_input():
    with pytest.raises(ValueError, match="space"):
        build_anatomy(colin27(3.0), "talairach")
    with pytest.raises(ValueError, match="3D"):
        build_anatomy(nib.Nifti1Image(np.zeros((4, 4, 4, 2), np.float32), np.eye(4)), "mni")


def test_contrast_change_keeps_wm_and_moves_gm(anatomy):
    levels = anatomy.intensities
    data = np.array([levels.csf, levels.gm, levels.wm], dtype=np.float32)
    out = comp.contrast_change(data, anatomy, gm_wm_factor=0.5, csf_factor=1.0)
    assert out[2] == pytest.approx(levels.wm)
    assert out[1] == pytest.approx(levels.wm - 0.5 * (levels.wm - levels.gm), rel=1e-5)
    assert np.all(np.diff(out) > 0)


def test_lower_resolution_is_constant_within_slabs_along_one_axis():
    rng = np.random.default_rng(0)
    data = rng.random((8, 8, 24)).astype(np.float32)
    out = comp.lower_resolution(data, np.ones(3), axis=2, thickness_mm=4.0)
    assert out.shape == data.shape
    assert out.std() < data.std()
    same = comp.lower_resolution(data, np.ones(3), axis=2, thickness_mm=1.0)
    assert np.array_equal(same, data)


def test_bias_field_is_smooth_and_bounded():
    field = comp.bias_field((20, 24, 22), np.random.default_rng(1), amplitude=0.2)
    assert field.min() >= np.exp(-0.2) - 1e-6 and field.max() <= np.exp(0.2) + 1e-6
    assert np.abs(np.diff(field, axis=0)).max() < 0.1


def test_rician_noise_deterministic_and_positive():
    data = np.full((10, 10, 10), 5.0, dtype=np.float32)
    a = comp.rician_noise(data, np.random.default_rng(3), sigma=1.0)
    b = comp.rician_noise(data, np.random.default_rng(3), sigma=1.0)
    assert np.array_equal(a, b) and a.min() >= 0
    assert abs(a.std() - 1.0) < 0.2


def test_ghosting_adds_a_shifted_copy():
    data = np.zeros((8, 16, 8), dtype=np.float32)
    data[:, 2, :] = 10.0
    out = comp.ghosting(data, axis=1, amplitude=0.1)
    assert out[0, 10, 0] == pytest.approx(1.0)
    assert out[0, 2, 0] == pytest.approx(10.0)
