"""How a synthetic T1w-nce is scored against its real T1w-nce on a real ce/nce pair.

One implementation for every score of the project (``score_pairs.py``,
``score_derivatives.py``, ``ceiling.py``, ``ce2nce-evaluate``), the same measures as the team's
``real_pairs_report.py``:

- **MAE (%)** against the T1w-nce, each image robustly min-max scaled inside the brain
  (0.5–99.5th percentiles, clipped to [0, 1]), as the paper scales its images; for the T1w-ce,
  the T1w-ce blurred by a Gaussian of σ 1.5 mm (blur alone lowers the MAE against a thick-slice
  T1w-nce) and the synthetic image.
- **Enhancement removed (%)**, in white-matter units. Each image is divided by its own median
  in the T1w-nce's white matter (eroded by one voxel), which gadolinium does not enhance, so
  that removing the enhancement does not rescale the rest of the image (a robust min-max
  scaling is anchored on the T1w-ce's 99.5th percentile, which *is* its enhancement). The core
  is where the T1w-ce is brighter than white matter (> 1.1) and brighter than the T1w-nce by
  more than 0.3; the region is that core dilated by 2 voxels, in the brain. Removed =
  1 − Σ_region (X − nce)+ / Σ_region (ce − nce)+: 100 = every excess gone, 0 = none, < 0 =
  brighter than the T1w-ce. Anchors on real pairs: the T1w-nce copied into the core scores 100,
  the identity 0, a Gaussian blur of the T1w-ce about 20.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

#: Core: T1w-ce brighter than the T1w-nce by more than this, in white-matter units.
CORE_ABOVE_NCE = 0.3
#: Core: T1w-ce brighter than white matter by more than this factor.
CORE_ABOVE_WHITE_MATTER = 1.1
#: The core is dilated by this many voxels into the region that is scored.
DILATION_VOXELS = 2
#: Fewer core voxels than this: the pair shows no enhancement to score (NaN).
MIN_CORE_VOXELS = 100
#: Gaussian σ (voxels, 1 mm on the t1-linear grid) of the blurred T1w-ce baseline.
BLUR_SIGMA = 1.5
#: Percentiles of the robust min-max scaling of the MAE.
ROBUST_PERCENTILES = (0.5, 99.5)


def robust_scaled(image: NDArray[np.floating], brain: NDArray[np.bool_]) -> NDArray[np.float64]:
    """``image`` scaled to [0, 1] on its 0.5th and 99.5th percentiles in ``brain``, clipped."""
    low, high = np.percentile(image[brain], ROBUST_PERCENTILES)
    return np.clip((image - low) / (high - low + 1e-9), 0.0, 1.0)


def robust_mae_percent(
    reference: NDArray[np.floating], image: NDArray[np.floating], brain: NDArray[np.bool_]
) -> float:
    """MAE (%) in ``brain`` between two images, each robustly min-max scaled there."""
    scaled = robust_scaled(reference, brain), robust_scaled(image, brain)
    return float(100.0 * np.abs(scaled[0] - scaled[1])[brain].mean())


def intensity_brain(nce: NDArray[np.floating], ce: NDArray[np.floating]) -> NDArray[np.bool_]:
    """A brain without a mask: the T1w-nce above the 5th percentile of its non-zero voxels,
    where the T1w-ce is non-zero (for skull-stripped images)."""
    return (nce > np.percentile(nce[nce > 0], 5)) & (ce > 0)


def reference_white_matter(
    nce: NDArray[np.floating],
    brain: NDArray[np.bool_],
    labels: NDArray[np.integer] | None = None,
) -> NDArray[np.bool_]:
    """The T1w-nce's white matter, eroded by one voxel, from its label map (2 = WM) when given;
    without labels (or with fewer than 1000 such voxels), its 60–90th intensity percentiles in
    ``brain``."""
    if labels is not None:
        white_matter = ndimage.binary_erosion(np.asarray(labels) == 2) & brain
        if white_matter.sum() > 1000:
            return white_matter
    low, high = np.percentile(nce[brain], [60, 90])
    return brain & (nce >= low) & (nce <= high)


def in_white_matter_units(
    image: NDArray[np.floating], white_matter: NDArray[np.bool_]
) -> NDArray[np.float32]:
    """``image`` divided by its median in ``white_matter`` (float32)."""
    image = np.asarray(image, np.float32)
    return image / np.median(image[white_matter])


@dataclass(frozen=True)
class EnhancementRegion:
    """Where a pair's enhancement is scored, and how much there is."""

    region: NDArray[np.bool_]
    core_voxels: int
    #: Σ over the region of (ce − nce)+, in white-matter units.
    excess: float
    #: The T1w-nce in white-matter units.
    nce_units: NDArray[np.float32]

    @property
    def scorable(self) -> bool:
        """Whether the pair shows enough enhancement to score (:data:`MIN_CORE_VOXELS`)."""
        return self.core_voxels >= MIN_CORE_VOXELS


def enhancement_region(
    nce: NDArray[np.floating],
    ce: NDArray[np.floating],
    brain: NDArray[np.bool_],
    white_matter: NDArray[np.bool_],
) -> EnhancementRegion:
    """The core, dilated region and excess of a pair."""
    nce_units = in_white_matter_units(nce, white_matter)
    ce_units = in_white_matter_units(ce, white_matter)
    difference = ce_units - nce_units
    core = (difference > CORE_ABOVE_NCE) & (ce_units > CORE_ABOVE_WHITE_MATTER) & brain
    region = ndimage.binary_dilation(core, iterations=DILATION_VOXELS) & brain
    excess = float(np.clip(difference, 0.0, None)[region].sum())
    return EnhancementRegion(region, int(core.sum()), excess, nce_units)


def removed_percent(
    scored: EnhancementRegion, image: NDArray[np.floating], white_matter: NDArray[np.bool_]
) -> float:
    """Share (%) of the pair's excess that ``image`` no longer has (NaN when not scorable)."""
    if not scored.scorable:
        return float("nan")
    units = in_white_matter_units(image, white_matter)
    left = np.clip(units - scored.nce_units, 0.0, None)[scored.region].sum()
    return float(100.0 * (1.0 - left / scored.excess))


def enhancement_removed(
    nce: NDArray[np.floating],
    ce: NDArray[np.floating],
    candidates: dict[str, NDArray[np.floating]],
    brain: NDArray[np.bool_],
    white_matter: NDArray[np.bool_],
) -> tuple[dict[str, float], int]:
    """Enhancement removed (%) by each candidate image, and the core's size in voxels.

    NaN for every candidate when the pair has fewer than :data:`MIN_CORE_VOXELS` core voxels.
    """
    scored = enhancement_region(nce, ce, brain, white_matter)
    removed = {name: removed_percent(scored, x, white_matter) for name, x in candidates.items()}
    return removed, scored.core_voxels


def pair_scores(
    nce: NDArray[np.floating],
    ce: NDArray[np.floating],
    synthetic: NDArray[np.floating],
    brain: NDArray[np.bool_] | None = None,
    nce_labels: NDArray[np.integer] | None = None,
) -> dict[str, float]:
    """Every image measure of a pair: MAE of the ce, the blurred ce and the synthetic image;
    enhancement removed by the synthetic image and by the blurred ce; the core's size.

    ``brain``: the T1w-nce's brain mask (:func:`intensity_brain` when ``None``), always limited
    to where the T1w-ce is non-zero. ``nce_labels``: the T1w-nce's tissue labels (1 GM, 2 WM,
    3 CSF), for its white matter.
    """
    nce, ce, synthetic = (np.asarray(x, np.float32) for x in (nce, ce, synthetic))
    brain = intensity_brain(nce, ce) if brain is None else (np.asarray(brain, bool) & (ce > 0))
    blurred = ndimage.gaussian_filter(ce, BLUR_SIGMA)
    white_matter = reference_white_matter(nce, brain, nce_labels)
    removed, core_voxels = enhancement_removed(
        nce, ce, {"synthetic": synthetic, "blurred_ce": blurred}, brain, white_matter
    )
    return {
        "mae_ce": robust_mae_percent(nce, ce, brain),
        "mae_blurred_ce": robust_mae_percent(nce, blurred, brain),
        "mae_synthetic": robust_mae_percent(nce, synthetic, brain),
        "removed_blurred_ce": removed["blurred_ce"],
        "removed_synthetic": removed["synthetic"],
        "core_voxels": float(core_voxels),
    }
