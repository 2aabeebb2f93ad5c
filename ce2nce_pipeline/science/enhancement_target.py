"""A training target that holds only what gadolinium changed: the T1w-ce without its enhancement.

A real T1w-nce differs from its T1w-ce by much more than the contrast agent: another sequence
(another grey/white contrast, another intensity scale), another noise draw, and a separate
registration. A network trained to turn the T1w-ce into the T1w-nce spends most of its capacity
on those differences, and a T1w-nce fed to it does not come out unchanged. The target built here
keeps the T1w-ce's own intensities and removes only where it is brighter than its T1w-nce: the
T1w-nce is first given the T1w-ce's intensity histogram inside the brain (a monotone remapping,
so sequence and scale differences vanish), then the target is the voxel-wise minimum of the two.
Gadolinium only brightens, so the positive part of the difference is where it acted.

Noise makes the minimum darker than either image on average, but a network trained with an L1
loss learns the median of what it cannot predict, and where the two images differ by noise alone
the median of the positive part of their difference is zero: it learns to subtract nothing there.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: Quantiles (in %) that define the monotone intensity mapping.
MATCHING_QUANTILES = np.linspace(0.0, 100.0, 201)


def histogram_matched(
    source: NDArray[np.floating], reference: NDArray[np.floating], region: NDArray[np.bool_]
) -> NDArray[np.float32]:
    """``source`` mapped monotonically onto ``reference``'s intensity quantiles in ``region``.

    Outside ``region`` the mapped values are kept as the mapping extends them (clamped to the
    reference's extreme values).

    Raises
    ------
    ValueError
        If the images' shapes differ or ``region`` holds fewer than 100 voxels.
    """
    if source.shape != reference.shape or source.shape != region.shape:
        raise ValueError(
            f"shapes differ: source {source.shape}, reference {reference.shape}, "
            f"region {region.shape}"
        )
    if int(region.sum()) < 100:
        raise ValueError(f"the region holds {int(region.sum())} voxels; at least 100 needed")
    source_quantiles = np.percentile(source[region], MATCHING_QUANTILES)
    reference_quantiles = np.percentile(reference[region], MATCHING_QUANTILES)
    # np.interp needs increasing abscissae: flat stretches (e.g. many zeros) keep their first.
    source_quantiles = np.maximum.accumulate(source_quantiles)
    keep = np.concatenate([[True], np.diff(source_quantiles) > 0])
    mapped = np.interp(source, source_quantiles[keep], reference_quantiles[keep])
    return mapped.astype(np.float32)


def ce_without_enhancement(
    ce: NDArray[np.floating], nce: NDArray[np.floating], brain: NDArray[np.bool_]
) -> NDArray[np.float32]:
    """The T1w-ce, made no brighter than its T1w-nce given the T1w-ce's histogram in ``brain``.

    Outside ``brain`` the T1w-ce is returned unchanged. Both images are on one grid (two
    t1-linear outputs of one session).
    """
    ce = np.asarray(ce, dtype=np.float32)
    matched_nce = histogram_matched(np.asarray(nce, np.float32), ce, brain)
    return np.where(brain, np.minimum(ce, matched_nce), ce).astype(np.float32)
