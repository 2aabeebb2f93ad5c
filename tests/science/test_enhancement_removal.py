"""The score of a synthetic T1w-nce on real pairs, against its anchors, on a real BraTS pair.

The pair is read as it lies in ../shared/data/brats18-pairs (already co-registered, 1 mm): the
score does not need t1-linear, and the anchors hold on any co-registered pair.
"""

import importlib.util
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from ce2nce_pipeline.science.enhancement_removal import (
    enhancement_region,
    enhancement_removed,
    intensity_brain,
    pair_scores,
    reference_white_matter,
    robust_mae_percent,
)

SHARED = Path(__file__).resolve().parents[3] / "shared"
REAL_PAIRS = SHARED / "data" / "brats18-pairs"
#: A training subject of the full-resolution recipe (never a test subject).
SUBJECT = "sub-TCIA01201"


@pytest.fixture(scope="module")
def real_pair():
    anat = REAL_PAIRS / SUBJECT / "ses-M000" / "anat"
    if not anat.is_dir():
        pytest.fail(f"{anat} missing: the real pairs live in ../shared/data/brats18-pairs")
    stem = f"{SUBJECT}_ses-M000"
    load = lambda name: nib.load(anat / name).get_fdata(dtype=np.float32)  # noqa: E731
    nce, ce = load(f"{stem}_T1w.nii.gz"), load(f"{stem}_ce-gadolinium_T1w.nii.gz")
    brain = intensity_brain(nce, ce)
    return nce, ce, brain, reference_white_matter(nce, brain)


def test_anchors_on_a_real_pair(real_pair):
    nce, ce, brain, white_matter = real_pair
    scored = enhancement_region(nce, ce, brain, white_matter)
    assert scored.scorable and scored.core_voxels > 1000
    # The T1w-nce copied into the region, in the T1w-ce's white-matter units.
    gain = np.median(ce[white_matter]) / np.median(nce[white_matter])
    copied = np.where(scored.region, nce * gain, ce)
    excess = np.clip(ce - nce * gain, 0, None) * scored.region
    candidates = {
        "copied": copied,
        "identity": ce,
        "blurred": ndimage.gaussian_filter(ce, 1.5),
        "excess_smoothed_1mm": ce - ndimage.gaussian_filter(excess, 1.0),
        "brighter": ce * np.where(scored.region, 1.2, 1.0),
    }
    removed, core = enhancement_removed(nce, ce, candidates, brain, white_matter)
    assert core == scored.core_voxels
    # Not exactly 100: the region overlaps white matter, whose median the copy moves a little.
    assert removed["copied"] > 97.5, removed
    assert removed["identity"] == pytest.approx(0.0, abs=1e-6)
    # Blur spreads brightness, it does not remove it; a smooth subtraction of the excess does.
    assert removed["blurred"] < 35.0, removed
    assert removed["excess_smoothed_1mm"] > 60.0, removed
    assert removed["excess_smoothed_1mm"] > removed["blurred"] + 30.0, removed
    assert removed["brighter"] < 0.0, removed


def test_removal_ignores_a_global_rescaling(real_pair):
    """White-matter units: multiplying an image by a constant changes nothing (the retired
    min-max measure moved with the 99.5th percentile, i.e. with the enhancement itself)."""
    nce, ce, brain, white_matter = real_pair
    removed, _ = enhancement_removed(nce, ce, {"ce": ce, "ce_x3": 3.0 * ce}, brain, white_matter)
    assert removed["ce_x3"] == pytest.approx(removed["ce"], abs=1e-6)


def test_same_numbers_as_the_team_scorer(real_pair):
    """One implementation, the same as ../shared/tools/real_pairs_report.py's."""
    script = SHARED / "tools" / "real_pairs_report.py"
    spec = importlib.util.spec_from_file_location("real_pairs_report", script)
    team = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(team)
    nce, ce, brain, white_matter = real_pair
    synthetic = ndimage.gaussian_filter(ce, 0.7) * 0.95
    theirs, their_core = team.excess_removed(
        nce, ce, {"synthetic": synthetic}, brain, team.white_matter(nce, brain, None)
    )
    ours = pair_scores(nce, ce, synthetic, brain)
    assert ours["core_voxels"] == their_core
    assert ours["removed_synthetic"] == pytest.approx(theirs["synthetic"], abs=1e-3)
    assert ours["mae_ce"] == pytest.approx(
        100 * np.abs(team.scaled(nce, brain) - team.scaled(ce, brain))[brain].mean(), abs=1e-4
    )


def test_a_pair_without_enhancement_is_not_scored():
    rng = np.random.default_rng(0)
    nce = rng.normal(100.0, 5.0, (40, 40, 40)).astype(np.float32)
    brain = np.ones_like(nce, bool)
    removed, core = enhancement_removed(nce, nce.copy(), {"x": nce}, brain, brain)
    assert core == 0 and np.isnan(removed["x"])
    assert robust_mae_percent(nce, nce, brain) == 0.0
