"""Tests of the networks' intensity normalisations on a real T1w (Colin27, t1-linear grid)."""

from __future__ import annotations

import numpy as np
import pytest

from ce2nce_pipeline.science.intensity import (
    WHITE_MATTER_LEVEL,
    normalise_intensities,
    scale_network_input,
    scale_network_target,
    white_matter_region,
    white_matter_scale,
)
from ce2nce_pipeline.science.resampling import T1_LINEAR_SHAPE, minmax_unscale
from ce2nce_pipeline.science.templates import tissue_priors

from ..training import colin_nce


@pytest.fixture(scope="module")
def colin():
    data, _ = colin_nce()
    return data


def test_white_matter_median_lands_on_the_level_and_the_scaling_inverts(colin):
    scaled, params = normalise_intensities(colin, "white-matter")
    region = white_matter_region(colin.shape)
    assert scaled.dtype == np.float32 and scaled.shape == T1_LINEAR_SHAPE
    assert float(np.median(scaled[region])) == pytest.approx(WHITE_MATTER_LEVEL, abs=1e-4)
    assert scaled.min() == 0.0 and scaled.max() <= 1.0
    below_clip = scaled < 1.0
    np.testing.assert_allclose(
        minmax_unscale(scaled, params)[below_clip], colin[below_clip], rtol=1e-5, atol=1e-3
    )
    # Colin27's brightest voxel (scalp fat) is 2.27 x its white matter: not clipped.
    assert colin.max() < params.maximum


def test_enhancement_moves_tissue_under_min_max_but_not_under_white_matter(colin):
    region = white_matter_region(colin.shape)
    # "Enhanced vessels": a bright tube along the midline above the brain, outside the prior.
    enhanced = colin.copy()
    tube = np.zeros(colin.shape, dtype=bool)
    tube[82:86, 40:170, 150:154] = True
    tube &= ~region
    enhanced[tube] = 2.0 * colin.max()  # 4.5 x the white matter
    for method, expected_ratio in (("min-max", 0.5), ("white-matter", 1.0)):
        before, _ = normalise_intensities(colin, method)
        after, _ = normalise_intensities(enhanced, method)
        ratio = np.median(after[region]) / np.median(before[region])
        assert ratio == pytest.approx(expected_ratio, rel=1e-4), method
    after, _ = normalise_intensities(enhanced, "white-matter")
    assert np.all(after[tube] == 1.0)  # clipped: 4.5 x the white matter
    np.testing.assert_array_equal(after[~tube], before[~tube])


def test_the_prior_region_is_the_white_matter_of_a_real_image(colin):
    region = white_matter_region(T1_LINEAR_SHAPE)
    gm, _, _ = tissue_priors()
    assert 250_000 < region.sum() < 350_000
    # T1w: white matter is brighter than grey matter, in Colin27 by about a quarter.
    assert np.median(colin[region]) > 1.15 * np.median(colin[gm >= 0.9])
    # A down-sampled t1-linear field of view gets the prior resampled: an eighth of the voxels.
    coarse = white_matter_region((85, 104, 90))
    assert coarse.sum() == pytest.approx(region.sum() / 8, rel=0.1)
    assert not coarse.flags.writeable


def test_unusable_inputs_are_refused_in_one_line(colin):
    region = white_matter_region(colin.shape)
    with pytest.raises(ValueError, match="unknown intensity normalisation 'z-score'"):
        normalise_intensities(colin, "z-score")
    with pytest.raises(ValueError, match="region shape"):
        white_matter_scale(colin, region[:-1])
    with pytest.raises(ValueError, match="empty white-matter region"):
        white_matter_scale(colin, np.zeros_like(region))
    blank = colin.copy()
    blank[region] = 0.0
    with pytest.raises(ValueError, match=r"sub-01\.nii: no signal in the white matter.*t1-linear"):
        white_matter_scale(blank, region, source="sub-01.nii")
    with pytest.raises(ValueError, match="constant"):
        normalise_intensities(np.ones((20, 20, 20), np.float32), "white-matter")
    with pytest.raises(ValueError, match="too coarse"):
        white_matter_region((2, 2, 2))


def test_network_normalisations_scale_input_and_target_as_recorded(colin):
    enhanced = colin.copy()
    enhanced[82:86, 40:170, 150:154] = 2.0 * colin.max()
    wm_scaled, wm_params = normalise_intensities(enhanced, "white-matter")
    mm_scaled, mm_params = normalise_intensities(enhanced, "min-max")
    # The paper's: min-max in, min-max out.
    scaled, params = scale_network_input(enhanced, "min-max")
    np.testing.assert_array_equal(scaled, mm_scaled)
    assert params == mm_params
    # white-matter-input: the network sees white-matter scaling, its output maps back by the
    # input's min-max range, and its target is the min-max scaled T1w-nce.
    scaled, params = scale_network_input(enhanced, "white-matter-input")
    np.testing.assert_array_equal(scaled, wm_scaled)
    assert params == mm_params and params.maximum == 2.0 * colin.max()
    np.testing.assert_array_equal(
        scale_network_target(colin, "white-matter-input"), normalise_intensities(colin)[0]
    )
    scaled, params = scale_network_input(enhanced, "white-matter")
    assert params == wm_params
    np.testing.assert_array_equal(
        scale_network_target(colin, "white-matter"),
        normalise_intensities(colin, "white-matter")[0],
    )
    with pytest.raises(ValueError, match="unknown intensity normalisation 'z-score'"):
        scale_network_input(colin, "z-score")
