"""Quality-control flags of a synthetic T1w-nce: where enhancement went, volumes, uncertainty.

Three numbers per synthetic image, each with a threshold above which the image deserves a look
(docs/qc.md gives the meaning and how well each ranks the worst synthetic images):

- :func:`unexpected_removal_fraction`: of the signal the translation removed (T1w-ce minus
  synthetic), the fraction inside the brain parenchyma. Gadolinium enhances vessels, dura,
  sinuses, choroid plexus and scalp, all outside the parenchyma (the parenchyma behind an intact
  blood-brain barrier does not enhance): removal inside it is either an enhancing lesion made
  to vanish or the network altering tissue.
- :func:`robust_zscores`: each tissue volume (GM, WM, CSF as fractions of TIV, and TIV) against
  the group's median and MAD.
- :func:`flip_uncertainty`: the mean voxel-wise standard deviation of the network's outputs on
  the image and on its left-right mirror, relative to the synthetic image's median brain
  intensity (flip test-time augmentation).

Everything here is a pure function of arrays.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

#: Above this fraction of the removed enhancement inside the parenchyma, an image is flagged.
UNEXPECTED_REMOVAL_THRESHOLD = 0.25
#: Above this absolute robust z-score of any tissue volume, an image is flagged.
VOLUME_Z_THRESHOLD = 3.0
#: Above this flip uncertainty (percent of the median brain intensity), an image is flagged.
FLIP_UNCERTAINTY_THRESHOLD = 3.0
#: Differences below this fraction of the T1w-ce's 99th percentile are noise, not enhancement.
REMOVAL_NOISE_FRACTION = 0.05
#: Voxels of the brain mask closer than this to its edge (mm) are not parenchyma (dura, vessels).
PARENCHYMA_EROSION_MM = 3
#: Fewest images for the group's volume z-scores (fewer give ``nan``).
MIN_GROUP_SIZE = 5
#: Smallest spread of the z-scores, as a fraction of the median (1%).
MIN_RELATIVE_SPREAD = 0.01
#: Scale of the median absolute deviation to a normal standard deviation.
MAD_TO_SD = 1.4826


def parenchyma_mask(
    brain_mask: ArrayLike,
    tissue_labels: ArrayLike | None = None,
    gm_wm_prior: ArrayLike | None = None,
    *,
    voxel_mm: float = 1.0,
) -> NDArray[np.bool_]:
    """Brain parenchyma: where gadolinium is not expected behind an intact blood-brain barrier.

    The brain mask eroded by :data:`PARENCHYMA_EROSION_MM` (the dura, the sinuses and the
    cortical veins lie at its edge), restricted to GM or WM (labels 1 or 2 of
    ``tissue_labels``: the ventricles, where the choroid plexus enhances, and the sulci, where
    the veins run, are CSF); without labels, to a GM + WM prior above 0.5.

    Parameters
    ----------
    brain_mask : array_like
        Boolean or 0/1 brain mask.
    tissue_labels : array_like, optional
        Label map (0 background, 1 GM, 2 WM, 3 CSF) on the same grid.
    gm_wm_prior : array_like, optional
        GM + WM probability on the same grid, used when ``tissue_labels`` is None.
    voxel_mm : float
        Voxel size (mm).

    Returns
    -------
    numpy.ndarray of bool
    """
    brain = np.asarray(brain_mask) > 0
    steps = max(1, int(round(PARENCHYMA_EROSION_MM / voxel_mm)))
    inner = ndimage.binary_erosion(brain, iterations=steps)
    if tissue_labels is not None:
        labels = np.asarray(tissue_labels)
        if labels.shape != brain.shape:
            raise ValueError(f"tissue labels {labels.shape} and mask {brain.shape} differ")
        tissue = (labels == 1) | (labels == 2)
    elif gm_wm_prior is not None:
        tissue = np.asarray(gm_wm_prior) > 0.5
    else:
        tissue = np.ones_like(brain)
    return inner & tissue


def removed_enhancement(ce: ArrayLike, synthetic: ArrayLike) -> NDArray[np.float32]:
    """What the translation removed: ``ce - synthetic`` above the noise level, else 0.

    The noise level is :data:`REMOVAL_NOISE_FRACTION` of the T1w-ce's 99th percentile.
    """
    ce = np.asarray(ce, dtype=np.float32)
    synthetic = np.asarray(synthetic, dtype=np.float32)
    if ce.shape != synthetic.shape:
        raise ValueError(f"T1w-ce {ce.shape} and synthetic {synthetic.shape} differ in shape")
    level = REMOVAL_NOISE_FRACTION * float(np.percentile(ce, 99))
    difference = ce - synthetic
    return np.where(difference > level, difference, 0.0).astype(np.float32)


def unexpected_removal_fraction(
    ce: ArrayLike, synthetic: ArrayLike, parenchyma: ArrayLike
) -> float:
    """Fraction of the removed enhancement that lies in the parenchyma (0 to 1).

    Returns ``nan`` when nothing above the noise level was removed.
    """
    removed = removed_enhancement(ce, synthetic)
    inside = np.asarray(parenchyma) > 0
    if inside.shape != removed.shape:
        raise ValueError(f"parenchyma {inside.shape} and images {removed.shape} differ")
    total = float(removed.sum(dtype=np.float64))
    if total <= 0.0:
        return float("nan")
    return float(removed[inside].sum(dtype=np.float64)) / total


def flip_sd(output: ArrayLike, flipped_output: ArrayLike) -> NDArray[np.float32]:
    """Voxel-wise sd (ddof 0) of two outputs: on the image, and on its mirror mirrored back."""
    first = np.asarray(output, dtype=np.float32)
    second = np.asarray(flipped_output, dtype=np.float32)
    if first.shape != second.shape:
        raise ValueError(f"outputs {first.shape} and {second.shape} differ in shape")
    return (np.abs(first - second) / 2.0).astype(np.float32)


def flip_uncertainty(sd_map: ArrayLike, synthetic: ArrayLike, brain_mask: ArrayLike) -> float:
    """Mean flip sd in the brain, in percent of the synthetic image's median brain intensity.

    Returns ``nan`` for an empty mask or a non-positive median.
    """
    sd = np.asarray(sd_map, dtype=np.float32)
    image = np.asarray(synthetic, dtype=np.float32)
    brain = np.asarray(brain_mask) > 0
    if not (sd.shape == image.shape == brain.shape):
        raise ValueError(f"shapes differ: sd {sd.shape}, image {image.shape}, mask {brain.shape}")
    if not brain.any():
        return float("nan")
    median = float(np.median(image[brain]))
    if median <= 0.0:
        return float("nan")
    return 100.0 * float(sd[brain].mean(dtype=np.float64)) / median


def robust_zscores(values: ArrayLike, reference: ArrayLike | None = None) -> NDArray[np.float64]:
    """Robust z-scores per column: ``(x - median) / (1.4826 MAD)`` of the reference rows.

    Parameters
    ----------
    values : array_like, shape (n, k)
        Rows to score (e.g. images) and columns (e.g. tissues).
    reference : array_like, shape (m, k), optional
        The group (default: ``values``). Rows with a ``nan`` are ignored per column.

    Returns
    -------
    numpy.ndarray, shape (n, k)
        ``nan`` in a column with fewer than :data:`MIN_GROUP_SIZE` reference values. The spread
        is at least :data:`MIN_RELATIVE_SPREAD` of the median's magnitude; a column of zeros
        scores 0 at the median and ``inf`` elsewhere.
    """
    scores = np.atleast_2d(np.asarray(values, dtype=np.float64))
    group = scores if reference is None else np.atleast_2d(np.asarray(reference, np.float64))
    out = np.full(scores.shape, np.nan)
    for column in range(scores.shape[1]):
        known = group[:, column][np.isfinite(group[:, column])]
        if known.size < MIN_GROUP_SIZE:
            continue
        median = np.median(known)
        spread = MAD_TO_SD * np.median(np.abs(known - median))
        # A group of near-identical values must not make a rounding difference an outlier.
        spread = max(spread, MIN_RELATIVE_SPREAD * abs(median))
        deviation = scores[:, column] - median
        if spread > 0:
            out[:, column] = deviation / spread
        else:
            out[:, column] = np.where(deviation == 0, 0.0, np.sign(deviation) * np.inf)
    return out


def tissue_fractions(volumes: ArrayLike) -> NDArray[np.float64]:
    """Rows of (GM, WM, CSF, TIV) cm³ to (GM/TIV, WM/TIV, CSF/TIV, TIV)."""
    table = np.atleast_2d(np.asarray(volumes, dtype=np.float64))
    if table.shape[1] != 4:
        raise ValueError(f"expected columns GM, WM, CSF, TIV, got {table.shape[1]} columns")
    tiv = table[:, 3:4]
    with np.errstate(divide="ignore", invalid="ignore"):
        fractions = np.where(tiv > 0, table[:, :3] / tiv, np.nan)
    return np.hstack([fractions, tiv])
