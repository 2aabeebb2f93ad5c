"""Tests of the enhancement-only training target, on Colin27 with a known enhancement."""

from __future__ import annotations

import numpy as np
import pytest

from ce2nce_pipeline.science.enhancement_target import ce_without_enhancement, histogram_matched
from tests.training import colin_brain_mask, colin_nce


def _enhanced_pair(seed: int = 0):
    """A T1w-nce (Colin27), and a T1w-ce of another sequence: a monotone, non-linear remapping
    of it (another contrast and scale), fresh noise, and enhancing blobs where it is known."""
    rng = np.random.default_rng(seed)
    nce, _ = colin_nce()
    brain = colin_brain_mask()
    nce = nce + rng.normal(0.0, 2.0, nce.shape).astype(np.float32) * brain
    axes = np.meshgrid(*[np.arange(n) for n in nce.shape], indexing="ij")
    enhanced = np.zeros(nce.shape, bool)
    for centre in ((60, 120, 90), (110, 80, 100), (85, 150, 60)):
        distance = sum((a - c) ** 2 for a, c in zip(axes, centre, strict=True))
        enhanced |= distance < 7**2
    enhanced &= brain
    ce = 3.0 * np.sqrt(np.clip(nce, 0, None)) * 10 + rng.normal(0.0, 1.0, nce.shape) * brain
    enhancement = np.where(enhanced, 0.6 * np.percentile(ce[brain], 99), 0.0)
    return nce.astype(np.float32), (ce + enhancement).astype(np.float32), ce, brain, enhanced


def test_a_monotone_remapping_is_undone():
    nce, _ = colin_nce()
    brain = colin_brain_mask()
    remapped = 0.5 * nce**1.5 + 7.0
    matched = histogram_matched(remapped, nce, brain)
    error = np.abs(matched - nce)[brain]
    assert np.median(error) < 0.01 * np.percentile(nce[brain], 99)
    # A plain rescaling would not do: the remapping is non-linear.
    slope, intercept = np.polyfit(remapped[brain] / remapped.max(), nce[brain], 1)
    linear = slope * remapped / remapped.max() + intercept
    assert np.median(np.abs(linear - nce)[brain]) > 3 * np.median(error)


def test_only_the_enhancement_is_removed_in_the_ce_own_intensities():
    nce, ce, ce_before_enhancement, brain, enhanced = _enhanced_pair()
    target = ce_without_enhancement(ce, nce, brain)
    # Where gadolinium acted, the target is back near the T1w-ce without it ...
    removed = (ce - target)[enhanced].mean() / (ce - ce_before_enhancement)[enhanced].mean()
    assert removed > 0.8
    # ... elsewhere in the brain it is the T1w-ce, up to noise (median change 0: L1's median).
    unenhanced = brain & ~enhanced
    assert np.median((ce - target)[unenhanced]) < 0.02 * np.percentile(ce[brain], 99)
    assert np.abs(np.mean(target[unenhanced]) - np.mean(ce[unenhanced])) < 0.05 * np.mean(
        ce[unenhanced]
    )
    # Never brighter than the T1w-ce, and unchanged outside the brain.
    assert np.all(target <= ce + 1e-5)
    np.testing.assert_array_equal(target[~brain], ce[~brain])


def test_a_pair_without_enhancement_keeps_most_of_the_ce():
    nce, ce, ce_before_enhancement, brain, enhanced = _enhanced_pair()
    target = ce_without_enhancement(ce_before_enhancement, nce, brain)
    change = (ce_before_enhancement - target)[brain]
    assert np.median(change) < 1e-4 * np.percentile(ce_before_enhancement[brain], 99)
    assert change.mean() < 0.03 * np.percentile(ce_before_enhancement[brain], 99)


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="shapes differ"):
        histogram_matched(np.zeros((4, 4, 4)), np.zeros((4, 4, 5)), np.ones((4, 4, 4), bool))
    with pytest.raises(ValueError, match="at least 100"):
        histogram_matched(np.zeros((4, 4, 4)), np.zeros((4, 4, 4)), np.ones((4, 4, 4), bool))
