"""Augmentation of base images, and the catalogue of real base images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ce2nce_pipeline.errors import BackendUnavailableError, InvalidInputError
from ce2nce_pipeline.simulation import base_images
from ce2nce_pipeline.simulation.augmentation import (
    AUGMENTATION_RANGES,
    AugmentationParameters,
    augment,
    sample_augmentation,
)

from . import colin27


@pytest.fixture(scope="module")
def image():
    return colin27(3.0)


def test_augmentation_is_deterministic_and_keeps_the_grid(image):
    params = sample_augmentation(np.random.default_rng(0))
    a = augment(image, params, seed=4)
    b = augment(image, params, seed=4)
    c = augment(image, params, seed=5)
    assert a.shape == image.shape and np.allclose(a.affine, image.affine)
    assert a.get_data_dtype() == np.float32
    assert np.array_equal(a.get_fdata(), b.get_fdata())
    assert not np.array_equal(a.get_fdata(), c.get_fdata())


def test_identity_augmentation_returns_the_image(image):
    out = augment(image, AugmentationParameters(), seed=0)
    assert np.allclose(out.get_fdata(), image.get_fdata(), atol=1e-3)


def test_augmentation_does_not_touch_its_input(image):
    before = image.get_fdata().copy()
    augment(image, sample_augmentation(np.random.default_rng(1)), seed=1)
    assert np.array_equal(image.get_fdata(), before)


def test_elastic_deformation_moves_voxels_but_keeps_the_head(image):
    params = AugmentationParameters(elastic_amplitude_mm=4.0)
    out = augment(image, params, seed=2).get_fdata()
    data = image.get_fdata()
    assert not np.allclose(out, data)
    assert abs((out > 20).sum() / (data > 20).sum() - 1) < 0.05


def test_sampled_augmentation_in_range():
    for seed in range(10):
        p = sample_augmentation(np.random.default_rng(seed))
        lo, hi = AUGMENTATION_RANGES["gamma"]
        assert lo <= p.gamma <= hi
        assert all(
            AUGMENTATION_RANGES["scale"][0] <= s <= AUGMENTATION_RANGES["scale"][1]
            for s in p.scale
        )


def test_bad_augmentation_parameters():
    with pytest.raises(ValueError):
        AugmentationParameters(gamma=0.0)
    with pytest.raises(ValueError):
        AugmentationParameters(scale=(1.0, 0.0, 1.0))


def test_base_images_installed_and_held_out_one_kept_apart():
    available = base_images.available_base_images()
    assert {"colin27", "mni152"} <= set(available)
    held_out = base_images.HELD_OUT_BASE
    subjects = {base_images.base_images()[n].subject for n in base_images.TRAINING_BASES}
    assert base_images.base_images()[held_out].subject not in subjects
    colin = base_images.load_base_image("colin27")
    assert colin.shape == (181, 217, 181) and colin.get_data_dtype() == np.float32
    assert base_images.base_images()["colin27"].has_head


def test_missing_base_names_its_package(monkeypatch, tmp_path):
    catalogue = base_images.base_images()
    missing = {
        name: base.__class__(**{**base.__dict__, "path": tmp_path / "absent.nii.gz"})
        for name, base in catalogue.items()
    }
    monkeypatch.setattr(base_images, "base_images", lambda: missing)
    with pytest.raises(BackendUnavailableError, match="mricron-data"):
        base_images.load_base_image("colin27")
    assert base_images.available_base_images() == []


def test_unknown_base_and_path_base(tmp_path):
    with pytest.raises(InvalidInputError, match="neither a known name"):
        base_images.load_base_image("colin28")
    with pytest.raises(InvalidInputError, match="unknown base image"):
        base_images.base_image_path("colin28")
    path = Path(base_images.base_image_path("colin27"))
    assert base_images.load_base_image(path).shape == (181, 217, 181)
    assert base_images.base_subject(path) == "ch2"
