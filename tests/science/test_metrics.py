"""Tests of the image similarity metrics, against scikit-image and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ce2nce_pipeline.science.metrics import (
    SimilarityMetrics,
    image_similarity,
    mae_percent,
    psnr_db,
    ssim,
    ssim_map,
    union_mask,
)
from ce2nce_pipeline.science.resampling import minmax_scale


def scaled(image: np.ndarray) -> np.ndarray:
    """``image`` min-max scaled to [0, 1] over its whole volume."""
    return minmax_scale(np.asarray(image, dtype=np.float64))[0]


def _sphere(shape: tuple[int, ...], radius: float) -> np.ndarray:
    grid = np.indices(shape, dtype=np.float64)
    centre = (np.array(shape, dtype=np.float64) - 1) / 2
    distance = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True)))
    return distance <= radius


@pytest.fixture(scope="module")
def random_pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uniform noise and a noisy, brightened copy, in arbitrary units (not [0, 1])."""
    rng = np.random.default_rng(20240311)
    reference = rng.random((32, 32, 32)) * 800.0 + 100.0
    candidate = 1.3 * reference + rng.normal(0.0, 60.0, reference.shape)
    return reference, candidate, _sphere(reference.shape, 12.0)


@pytest.fixture(scope="module")
def smooth_pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smoothed 3D volume (brain-like blobs) and a blurred, shifted-intensity candidate."""
    rng = np.random.default_rng(7)
    reference = gaussian_filter(rng.normal(size=(40, 44, 36)), sigma=3.0)
    reference += 0.05 * _sphere(reference.shape, 14.0)
    candidate = gaussian_filter(reference, sigma=1.0) + 0.002 * rng.normal(size=reference.shape)
    mask = union_mask(_sphere(reference.shape, 14.0), _sphere(reference.shape, 10.0))
    return reference, candidate, mask


def _skimage_ssim_map(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    _, full = structural_similarity(
        scaled(reference),
        scaled(candidate),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1.0,
        full=True,
    )
    return full


@pytest.mark.parametrize("pair", ["random_pair", "smooth_pair"])
def test_ssim_equals_skimage_map_averaged_over_mask(pair: str, request) -> None:
    reference, candidate, mask = request.getfixturevalue(pair)
    expected_map = _skimage_ssim_map(reference, candidate)
    np.testing.assert_allclose(ssim_map(reference, candidate), expected_map, rtol=0, atol=1e-12)
    assert ssim(reference, candidate, mask) == pytest.approx(expected_map[mask].mean(), abs=1e-12)


@pytest.mark.parametrize("pair", ["random_pair", "smooth_pair"])
def test_psnr_and_mae_equal_skimage_and_numpy_within_mask(pair: str, request) -> None:
    reference, candidate, mask = request.getfixturevalue(pair)
    ref, cand = scaled(reference), scaled(candidate)
    expected_psnr = peak_signal_noise_ratio(ref[mask], cand[mask], data_range=1.0)
    assert psnr_db(reference, candidate, mask) == pytest.approx(expected_psnr, rel=1e-12)
    expected_mae = 100.0 * np.mean(np.abs(ref[mask] - cand[mask]))
    assert mae_percent(reference, candidate, mask) == pytest.approx(expected_mae, rel=1e-12)


def test_image_similarity_bundles_the_three_metrics(smooth_pair) -> None:
    reference, candidate, mask = smooth_pair
    metrics = image_similarity(reference, candidate, mask)
    assert isinstance(metrics, SimilarityMetrics)
    assert metrics.mae_percent == pytest.approx(mae_percent(reference, candidate, mask))
    assert metrics.psnr_db == pytest.approx(psnr_db(reference, candidate, mask))
    assert metrics.ssim == pytest.approx(ssim(reference, candidate, mask))
    assert metrics.as_dict()["paper_compatible"] is False


def test_hand_computed_mae_and_psnr_without_scaling() -> None:
    reference = np.zeros((4, 4, 4))
    candidate = np.zeros((4, 4, 4))
    mask = np.zeros((4, 4, 4), dtype=bool)
    mask[:2] = True  # 32 voxels
    candidate[:2] = 0.1  # error 0.1 everywhere inside the mask
    candidate[3] = 0.9  # large error outside the mask must not count
    assert mae_percent(reference, candidate, mask, scale=False) == pytest.approx(10.0)
    # MSE = 0.01 -> PSNR = 10 log10(1 / 0.01) = 20 dB
    assert psnr_db(reference, candidate, mask, scale=False) == pytest.approx(20.0)


def test_identical_images_are_perfect(smooth_pair) -> None:
    reference, _, mask = smooth_pair
    metrics = image_similarity(reference, reference.copy(), mask)
    assert metrics.mae_percent == 0.0
    assert math.isinf(metrics.psnr_db)
    assert metrics.ssim == pytest.approx(1.0, abs=1e-12)


def test_metrics_are_invariant_to_affine_intensity_changes(smooth_pair) -> None:
    # Min-max scaling removes gain and offset, as in the paper.
    reference, candidate, mask = smooth_pair
    a = image_similarity(reference, candidate, mask)
    b = image_similarity(3.0 * reference + 50.0, 0.5 * candidate - 2.0, mask)
    assert b.mae_percent == pytest.approx(a.mae_percent, rel=1e-10)
    assert b.psnr_db == pytest.approx(a.psnr_db, rel=1e-10)
    assert b.ssim == pytest.approx(a.ssim, rel=1e-10)


def test_worse_candidate_scores_worse(smooth_pair) -> None:
    reference, candidate, mask = smooth_pair
    noisy = candidate + np.random.default_rng(3).normal(0.0, 0.02, candidate.shape)
    good, bad = (
        image_similarity(reference, candidate, mask),
        image_similarity(reference, noisy, mask),
    )
    assert bad.mae_percent > good.mae_percent
    assert bad.psnr_db < good.psnr_db
    assert bad.ssim < good.ssim


def test_paper_compatible_hand_computed() -> None:
    reference = np.array([[0.0, 1.0], [0.0, 1.0]])
    candidate = np.array([[0.0, 1.0], [1.0, 1.0]])
    mask = np.array([[1, 1], [1, 0]])
    # Zeroed outside the mask: r = [0, 1, 0, 0], c = [0, 1, 1, 0].
    metrics = image_similarity(reference, candidate, mask, paper_compatible=True)
    assert metrics.paper_compatible is True
    assert metrics.mae_percent == pytest.approx(25.0)  # one error of 1 over 4 voxels
    assert metrics.psnr_db == pytest.approx(-10.0 * math.log10(0.25))
    # mu_r = 1/4, mu_c = 1/2, var_r (ddof 1) = 0.75 / 3, var_c (ddof 1) = 1 / 3,
    # cov (ddof 0) = 0.5 / 4, C1 = 0.01, C2 = 0.03 (not squared).
    numerator = (2 * 0.25 * 0.5 + 0.01) * (2 * 0.125 + 0.03)
    denominator = (0.25**2 + 0.5**2 + 0.01) * (0.25 + 1 / 3 + 0.03)
    assert metrics.ssim == pytest.approx(numerator / denominator, rel=1e-12)


def test_paper_compatible_uses_whole_volume_averages(smooth_pair) -> None:
    reference, candidate, mask = smooth_pair
    ref, cand = scaled(reference), scaled(candidate)
    standard = image_similarity(reference, candidate, mask)
    paper = image_similarity(reference, candidate, mask, paper_compatible=True)
    # Zeros outside the mask dilute the error by the mask's share of the volume.
    assert paper.mae_percent == pytest.approx(standard.mae_percent * mask.mean(), rel=1e-10)
    expected_mse = np.mean(np.where(mask, ref - cand, 0.0) ** 2)
    assert paper.psnr_db == pytest.approx(-10 * np.log10(expected_mse), rel=1e-12)
    assert paper.ssim != pytest.approx(standard.ssim, abs=1e-3)


def test_union_mask() -> None:
    a = np.array([[1, 0], [0, 0]], dtype=np.uint8)
    b = np.array([[False, False], [True, False]])
    np.testing.assert_array_equal(union_mask(a, b), [[True, False], [True, False]])
    with pytest.raises(ValueError, match="shapes differ"):
        union_mask(a, np.zeros((3, 3), dtype=bool))
    with pytest.raises(ValueError, match="only 0 and 1"):
        union_mask(a * 2, b)


def test_inputs_are_not_mutated(random_pair) -> None:
    reference, candidate, mask = random_pair
    copies = [reference.copy(), candidate.copy(), mask.copy()]
    image_similarity(reference, candidate, mask)
    image_similarity(reference, candidate, mask, paper_compatible=True)
    for original, copy in zip((reference, candidate, mask), copies, strict=True):
        np.testing.assert_array_equal(original, copy)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("shape", "shapes differ"),
        ("empty", "mask is empty"),
        ("nan", "NaN"),
        ("constant", "constant"),
        ("mask_values", "only 0 and 1"),
        ("ndim", "2D or 3D"),
    ],
)
def test_bad_inputs_raise_value_error(change: str, message: str) -> None:
    rng = np.random.default_rng(0)
    reference, candidate = rng.random((8, 8, 8)), rng.random((8, 8, 8))
    mask = np.ones((8, 8, 8), dtype=bool)
    if change == "shape":
        candidate = candidate[:-1]
    elif change == "empty":
        mask = np.zeros_like(mask)
    elif change == "nan":
        candidate[2, 2, 2] = np.nan
    elif change == "constant":
        candidate = np.full_like(candidate, 3.0)
    elif change == "mask_values":
        mask = mask.astype(float) * 0.5
    elif change == "ndim":
        reference, candidate, mask = reference[0, 0], candidate[0, 0], mask[0, 0]
    with pytest.raises(ValueError, match=message):
        image_similarity(reference, candidate, mask)


def test_paper_compatible_sends_t1_linear_images_through_the_network_grid() -> None:
    from ce2nce_pipeline.science.resampling import network_round_trip

    rng = np.random.default_rng(0)
    shape = (169, 208, 179)
    nce = rng.random(shape, dtype=np.float32)
    ce = nce + 0.3 * (rng.random(shape, dtype=np.float32) > 0.99)  # sparse bright voxels
    mask = np.zeros(shape, dtype=bool)
    mask[40:130, 50:160, 40:140] = True
    paper = image_similarity(nce, ce, mask, paper_compatible=True)
    ref, cand = scaled(network_round_trip(nce)), scaled(network_round_trip(ce))
    expected_mae = 100 * np.abs(np.where(mask, ref - cand, 0)).mean()
    # The round-tripped images' error, not the sharp ones': the round trip blurs the bright
    # voxels away, so the images agree better than they really do.
    assert paper.mae_percent == pytest.approx(expected_mae, rel=1e-4)
    sharp_mae = 100 * np.abs(np.where(mask, scaled(nce) - scaled(ce), 0)).mean()
    assert paper.mae_percent < 0.8 * sharp_mae
