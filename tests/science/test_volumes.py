"""Tests of Dice, maximum-probability label maps and tissue volumes."""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pytest

from ce2nce_pipeline.science.volumes import (
    LABELS,
    TissueVolumes,
    dice,
    dice_per_tissue,
    max_probability_labels,
    tissue_volumes,
    voxel_volume_mm3,
)


def test_dice_on_known_masks() -> None:
    a = np.zeros(20, dtype=bool)
    b = np.zeros(20, dtype=bool)
    a[:10] = True
    b[5:15] = True
    assert dice(a, b) == pytest.approx(0.5)  # 2 * 5 / (10 + 10)
    assert dice(a, a) == 1.0
    assert dice(a, ~a) == 0.0
    c = np.zeros((4, 4), dtype=np.uint8)
    d = np.zeros((4, 4), dtype=np.uint8)
    c[0, :3] = 1  # 3 voxels
    d[0, 2:] = 1  # 2 voxels, 1 shared
    assert dice(c, d) == pytest.approx(2 * 1 / 5)


def test_dice_when_empty() -> None:
    empty = np.zeros((3, 3, 3), dtype=bool)
    one = empty.copy()
    one[1, 1, 1] = True
    assert dice(empty, empty) == 1.0
    assert math.isnan(dice(empty, empty, empty=np.nan))
    assert dice(empty, one) == 0.0


def test_dice_bad_inputs() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        dice(np.zeros(3, dtype=bool), np.zeros(4, dtype=bool))
    with pytest.raises(ValueError, match="only 0 and 1"):
        dice(np.array([0.0, 0.7]), np.array([0.0, 1.0]))


def test_max_probability_rule_voxel_by_voxel() -> None:
    # One voxel per case, along the first axis.
    gm = np.array([0.6, 0.2, 0.4, 0.0, 0.30, 0.1])
    wm = np.array([0.3, 0.3, 0.4, 0.0, 0.25, 0.1])
    csf = np.array([0.1, 0.1, 0.0, 0.0, 0.00, 0.7])
    labels = max_probability_labels(gm, wm, csf)
    # complement: 0.0, 0.4, 0.2, 1.0, 0.45, 0.1
    np.testing.assert_array_equal(labels, [1, 0, 1, 0, 0, 3])  # tie GM = WM -> GM
    assert labels.dtype == np.uint8
    no_background = max_probability_labels(gm, wm, csf, background=None)
    np.testing.assert_array_equal(no_background, [1, 2, 1, 0, 1, 3])
    thresholded = max_probability_labels(gm, wm, csf, background=None, threshold=0.3)
    np.testing.assert_array_equal(thresholded, [1, 0, 1, 0, 0, 3])  # 0.3 is not above 0.3
    explicit = max_probability_labels(
        gm, wm, csf, background=np.array([0.7, 0.0, 0.0, 0.0, 0.0, 0.0])
    )
    np.testing.assert_array_equal(explicit, [0, 2, 1, 0, 1, 3])


def test_max_probability_bad_inputs() -> None:
    p = np.full((2, 2, 2), 0.3)
    with pytest.raises(ValueError, match="shapes differ"):
        max_probability_labels(p, p, p[:1])
    with pytest.raises(ValueError, match="NaN"):
        max_probability_labels(p, np.where(p > 0, np.nan, p), p)
    with pytest.raises(ValueError, match="outside"):
        max_probability_labels(p * 255, p, p)
    with pytest.raises(ValueError, match="background"):
        max_probability_labels(p, p, p, background="air")
    with pytest.raises(ValueError, match="threshold"):
        max_probability_labels(p, p, p, threshold=1.0)


def test_voxel_volume_from_affine_and_zooms() -> None:
    affine = np.diag([1.2, 0.9, 2.5, 1.0])
    assert voxel_volume_mm3(affine=affine) == pytest.approx(2.7)
    assert voxel_volume_mm3(zooms=(1.2, 0.9, 2.5)) == pytest.approx(2.7)
    # A rotation and a flip do not change the voxel volume.
    angle = 0.3
    rotation = np.array(
        [
            [np.cos(angle), -np.sin(angle), 0.0],
            [np.sin(angle), np.cos(angle), 0.0],
            [0.0, 0.0, -1.0],
        ]
    )
    rotated = np.eye(4)
    rotated[:3, :3] = rotation @ np.diag([1.2, 0.9, 2.5])
    rotated[:3, 3] = [-90.0, 126.0, -72.0]
    assert voxel_volume_mm3(affine=rotated) == pytest.approx(2.7)
    with pytest.raises(ValueError, match="exactly one"):
        voxel_volume_mm3()
    with pytest.raises(ValueError, match="exactly one"):
        voxel_volume_mm3(affine=affine, zooms=(1, 1, 1))
    with pytest.raises(ValueError, match="invalid"):
        voxel_volume_mm3(zooms=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="4x4"):
        voxel_volume_mm3(affine=np.eye(3))


def test_tissue_volumes_on_known_label_map() -> None:
    labels = np.zeros((20, 20, 20), dtype=np.int16)
    labels.flat[:100] = LABELS["GM"]
    labels.flat[100:350] = LABELS["WM"]
    labels.flat[1000:1040] = LABELS["CSF"]
    labels.flat[2000:2010] = 7  # unknown label: ignored
    affine = np.diag([1.5, 1.5, 2.0, 1.0])  # 4.5 mm3 per voxel
    volumes = tissue_volumes(labels, affine=affine)
    assert isinstance(volumes, TissueVolumes)
    assert volumes.gm == pytest.approx(100 * 4.5 / 1000)
    assert volumes.wm == pytest.approx(250 * 4.5 / 1000)
    assert volumes.csf == pytest.approx(40 * 4.5 / 1000)
    assert volumes.tiv == pytest.approx(390 * 4.5 / 1000)
    assert volumes.as_dict() == pytest.approx({"GM": 0.45, "WM": 1.125, "CSF": 0.18, "TIV": 1.755})
    image = nib.Nifti1Image(labels, affine)
    from_header = tissue_volumes(labels, zooms=image.header.get_zooms()[:3])
    assert from_header.as_dict() == pytest.approx(volumes.as_dict())


def test_tissue_volumes_rejects_probabilities() -> None:
    with pytest.raises(ValueError, match="integer"):
        tissue_volumes(np.full((3, 3, 3), 0.5), zooms=(1, 1, 1))


def test_from_probabilities_to_volumes_and_dice() -> None:
    shape = (24, 24, 24)
    z = np.indices(shape)[0]
    gm = np.where(z < 8, 0.9, 0.05)
    wm = np.where((z >= 8) & (z < 16), 0.8, 0.05)
    csf = np.where((z >= 16) & (z < 20), 0.7, 0.0)
    labels = max_probability_labels(gm, wm, csf)
    slab = 24 * 24  # voxels per z-slice
    volumes = tissue_volumes(labels, zooms=(1.0, 1.0, 1.0))
    assert volumes.as_dict() == pytest.approx(
        {
            "GM": 8 * slab / 1000,
            "WM": 8 * slab / 1000,
            "CSF": 4 * slab / 1000,
            "TIV": 20 * slab / 1000,
        }
    )
    assert np.all(labels[20:] == 0)  # complement 0.9 beats 0.05
    # Shift by 2 slices: GM 0-7 -> 2-9, WM 8-15 -> 10-17, CSF 16-19 -> 18-21.
    shifted = np.roll(labels, 2, axis=0)
    scores = dice_per_tissue(labels, shifted)
    assert scores["GM"] == pytest.approx(2 * 6 / (8 + 8))
    assert scores["WM"] == pytest.approx(2 * 6 / (8 + 8))
    assert scores["CSF"] == pytest.approx(2 * 2 / (4 + 4))
    with pytest.raises(ValueError, match="shapes differ"):
        dice_per_tissue(labels, labels[1:])
