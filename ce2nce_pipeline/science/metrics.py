"""Image similarity within a brain mask: MAE (%), PSNR (dB) and SSIM.

The paper (Bottani et al. 2024, section 2.4.1) compares a real T1w-nce image with a T1w-ce or a
synthetic T1w-nce image *within the brain*, the mask being the union of the HD-BET masks of the
T1w-nce and the T1w-ce. Images are min-max scaled to [0, 1] first, so the data range is 1.

Two definitions are provided.

Standard (default)
    Each image is min-max scaled to [0, 1] over its whole volume. MAE and MSE are averaged over
    the mask voxels only. SSIM is the standard SSIM of Wang et al. (2004): local statistics from a
    Gaussian window (sigma 1.5, truncated at 3.5 sigma, reflected borders, population
    covariance), constants ``C1 = (0.01 * L)**2`` and ``C2 = (0.03 * L)**2`` with ``L = 1``,
    computed on the whole volume and then averaged over the mask voxels. This equals
    ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1, full=True)[1][mask].mean()``.

Paper-compatible (``paper_compatible=True``)
    Reproduces the definitions of the authors' original evaluation code so that numbers can be
    set beside the paper's Table 1: each image on the t1-linear grid (the reference T1w-nce
    and the T1w-ce too) sent through the 128³ network grid and back (trilinear), min-max
    scaled to [0, 1] over its whole volume, then set to zero outside the mask, then

    - MAE = 100 * mean over the *whole volume* of ``|reference - candidate|``;
    - PSNR = ``-10 * log10(MSE)`` with the MSE averaged over the *whole volume*;
    - SSIM = one global SSIM over the whole volume: with whole-volume means ``mu``, variances
      ``s**2`` from the unbiased standard deviation (ddof = 1) and the covariance ``c`` with
      ddof = 0, ``((2 mu_r mu_c + C1)(2 c + C2)) / ((mu_r**2 + mu_c**2 + C1)(s_r**2 + s_c**2 +
      C2))`` with the *unsquared* constants ``C1 = 0.01`` and ``C2 = 0.03``.

    Because the zeros outside the mask enter every average, these numbers depend on the size of
    the field of view and are not comparable with the standard ones.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import gaussian_filter

from .resampling import is_t1_linear_shape, minmax_scale, network_round_trip
from .volumes import as_binary_mask

logger = logging.getLogger(__name__)

#: Standard deviation (voxels) of the Gaussian window of the standard SSIM (Wang et al. 2004).
SSIM_SIGMA = 1.5
#: The window is truncated at this many standard deviations (radius 5, i.e. 11 voxels wide).
SSIM_TRUNCATE = 3.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
#: Constants of the original code's global SSIM, used as they are (not ``(K * L) ** 2``).
PAPER_SSIM_C1 = 0.01
PAPER_SSIM_C2 = 0.03


@dataclass(frozen=True)
class SimilarityMetrics:
    """Similarity of a candidate image to a reference image within a mask.

    Attributes
    ----------
    mae_percent : float
        Mean absolute error of the [0, 1]-scaled images, in percent.
    psnr_db : float
        Peak signal-to-noise ratio in dB for a data range of 1 (``inf`` for identical images).
    ssim : float
        Structural similarity index.
    paper_compatible : bool
        Whether the original code's definitions were used (see the module docstring).
    """

    mae_percent: float
    psnr_db: float
    ssim: float
    paper_compatible: bool = False

    def as_dict(self) -> dict[str, float | bool]:
        """Return the metrics as a plain dictionary (e.g. for a row of a table)."""
        return asdict(self)


def _as_image(image: ArrayLike, name: str) -> NDArray[np.float64]:
    array = np.asarray(image, dtype=np.float64)
    if array.ndim not in (2, 3):
        raise ValueError(f"{name} must be a 2D or 3D array, got {array.ndim} dimensions")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def union_mask(mask_a: ArrayLike, mask_b: ArrayLike) -> NDArray[np.bool_]:
    """Union of two binary masks (the paper's brain mask: nce mask OR ce mask).

    Parameters
    ----------
    mask_a, mask_b : array_like
        Boolean or 0/1 arrays of the same shape.

    Returns
    -------
    numpy.ndarray
        A new boolean array.

    Raises
    ------
    ValueError
        If the shapes differ or a mask holds values other than 0 and 1.
    """
    a = as_binary_mask(mask_a, "mask_a")
    b = as_binary_mask(mask_b, "mask_b")
    if a.shape != b.shape:
        raise ValueError(f"mask shapes differ: {a.shape} and {b.shape}")
    return np.logical_or(a, b)


def _prepare(
    reference: ArrayLike, candidate: ArrayLike, mask: ArrayLike, scale: bool
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    ref = _as_image(reference, "reference")
    cand = _as_image(candidate, "candidate")
    inside = as_binary_mask(mask)
    if ref.shape != cand.shape or ref.shape != inside.shape:
        raise ValueError(
            f"shapes differ: reference {ref.shape}, candidate {cand.shape}, mask {inside.shape}"
        )
    if not inside.any():
        raise ValueError("mask is empty: no voxel to compute the metrics on")
    if scale:
        ref, cand = minmax_scale(ref)[0], minmax_scale(cand)[0]
    return ref, cand, inside


def _psnr_from_mse(mse: float, data_range: float) -> float:
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def _ssim_map(
    ref: NDArray[np.float64],
    cand: NDArray[np.float64],
    data_range: float,
    sigma: float,
    truncate: float,
) -> NDArray[np.float64]:
    def smooth(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return gaussian_filter(x, sigma=sigma, truncate=truncate, mode="reflect")

    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    mu_r, mu_c = smooth(ref), smooth(cand)
    # Population (biased) local moments, as in Wang et al. 2004.
    var_r = smooth(ref * ref) - mu_r * mu_r
    var_c = smooth(cand * cand) - mu_c * mu_c
    cov = smooth(ref * cand) - mu_r * mu_c
    numerator = (2.0 * mu_r * mu_c + c1) * (2.0 * cov + c2)
    denominator = (mu_r * mu_r + mu_c * mu_c + c1) * (var_r + var_c + c2)
    return numerator / denominator


def mae_percent(
    reference: ArrayLike, candidate: ArrayLike, mask: ArrayLike, *, scale: bool = True
) -> float:
    """Mean absolute error within a mask, in percent of the data range.

    Parameters
    ----------
    reference, candidate : array_like
        Finite images of the same shape (2D or 3D).
    mask : array_like
        Boolean or 0/1 array of the same shape; must select at least one voxel.
    scale : bool, default True
        Min-max scale each image to [0, 1] over its whole volume first. With ``False`` the images
        are used as given and are assumed to be in [0, 1] already.

    Returns
    -------
    float
        ``100 * mean(|reference - candidate|)`` over the mask voxels.

    Raises
    ------
    ValueError
        On a shape mismatch, an empty or non-binary mask, NaN/inf values or a constant image.
    """
    ref, cand, inside = _prepare(reference, candidate, mask, scale)
    return float(100.0 * np.abs(ref[inside] - cand[inside]).mean())


def psnr_db(
    reference: ArrayLike,
    candidate: ArrayLike,
    mask: ArrayLike,
    *,
    scale: bool = True,
    data_range: float = 1.0,
) -> float:
    """Peak signal-to-noise ratio within a mask, in dB.

    Parameters
    ----------
    reference, candidate, mask, scale
        As in :func:`mae_percent`.
    data_range : float, default 1.0
        Peak value ``L`` in ``10 * log10(L**2 / MSE)``; 1 for [0, 1]-scaled images.

    Returns
    -------
    float
        PSNR with the MSE averaged over the mask voxels; ``inf`` when the images are equal there.

    Raises
    ------
    ValueError
        As in :func:`mae_percent`.
    """
    ref, cand, inside = _prepare(reference, candidate, mask, scale)
    mse = float(np.mean((ref[inside] - cand[inside]) ** 2))
    return _psnr_from_mse(mse, data_range)


def ssim_map(
    reference: ArrayLike,
    candidate: ArrayLike,
    *,
    scale: bool = True,
    data_range: float = 1.0,
    sigma: float = SSIM_SIGMA,
    truncate: float = SSIM_TRUNCATE,
) -> NDArray[np.float64]:
    """Local SSIM of Wang et al. (2004) at every voxel, with a Gaussian window.

    Parameters
    ----------
    reference, candidate : array_like
        Finite images of the same shape (2D or 3D).
    scale : bool, default True
        Min-max scale each image to [0, 1] over its whole volume first.
    data_range : float, default 1.0
        ``L`` in the constants ``C1 = (0.01 L)**2`` and ``C2 = (0.03 L)**2``.
    sigma : float, default 1.5
        Standard deviation of the Gaussian window, in voxels.
    truncate : float, default 3.5
        Window radius in standard deviations (as scikit-image); borders are reflected.

    Returns
    -------
    numpy.ndarray
        The SSIM map, same shape as the inputs.

    Raises
    ------
    ValueError
        On a shape mismatch, NaN/inf values or a constant image.
    """
    ref = _as_image(reference, "reference")
    cand = _as_image(candidate, "candidate")
    if ref.shape != cand.shape:
        raise ValueError(f"shapes differ: reference {ref.shape}, candidate {cand.shape}")
    if scale:
        ref, cand = minmax_scale(ref)[0], minmax_scale(cand)[0]
    return _ssim_map(ref, cand, data_range, sigma, truncate)


def ssim(
    reference: ArrayLike,
    candidate: ArrayLike,
    mask: ArrayLike,
    *,
    scale: bool = True,
    data_range: float = 1.0,
    sigma: float = SSIM_SIGMA,
    truncate: float = SSIM_TRUNCATE,
) -> float:
    """Standard SSIM (Wang et al. 2004) computed on the whole volume, averaged over a mask.

    Parameters
    ----------
    reference, candidate, mask, scale
        As in :func:`mae_percent`.
    data_range, sigma, truncate
        As in :func:`ssim_map`.

    Returns
    -------
    float
        Mean of :func:`ssim_map` over the mask voxels. The window sees voxels outside the mask,
        so the value depends on the image around the mask border, as in the standard SSIM.

    Raises
    ------
    ValueError
        As in :func:`mae_percent`.
    """
    ref, cand, inside = _prepare(reference, candidate, mask, scale)
    return float(_ssim_map(ref, cand, data_range, sigma, truncate)[inside].mean())


def _paper_compatible(
    ref: NDArray[np.float64], cand: NDArray[np.float64], inside: NDArray[np.bool_]
) -> SimilarityMetrics:
    ref = np.where(inside, ref, 0.0)
    cand = np.where(inside, cand, 0.0)
    diff = ref - cand
    mae = 100.0 * float(np.abs(diff).mean())
    psnr = _psnr_from_mse(float(np.mean(diff**2)), 1.0)
    mu_r, mu_c = float(ref.mean()), float(cand.mean())
    var_r, var_c = float(ref.var(ddof=1)), float(cand.var(ddof=1))
    cov = float(np.mean((ref - mu_r) * (cand - mu_c)))
    numerator = (2.0 * mu_r * mu_c + PAPER_SSIM_C1) * (2.0 * cov + PAPER_SSIM_C2)
    denominator = (mu_r**2 + mu_c**2 + PAPER_SSIM_C1) * (var_r + var_c + PAPER_SSIM_C2)
    return SimilarityMetrics(mae, psnr, numerator / denominator, paper_compatible=True)


def image_similarity(
    reference: ArrayLike,
    candidate: ArrayLike,
    mask: ArrayLike,
    *,
    paper_compatible: bool = False,
    scale: bool = True,
) -> SimilarityMetrics:
    """MAE (%), PSNR (dB) and SSIM of a candidate against a reference within a mask.

    Parameters
    ----------
    reference : array_like
        The real T1w-nce image.
    candidate : array_like
        The T1w-ce (baseline) or the synthetic T1w-nce image, same shape.
    mask : array_like
        Brain mask (boolean or 0/1), e.g. :func:`union_mask` of the two HD-BET masks.
    paper_compatible : bool, default False
        Use the original code's definitions (zero outside the mask, whole-volume averages, one
        global SSIM with unscaled constants) instead of the standard ones; see the module
        docstring.
    scale : bool, default True
        Min-max scale each image to [0, 1] over its whole volume first (as the paper).

    Returns
    -------
    SimilarityMetrics
        The three metrics.

    Raises
    ------
    ValueError
        On a shape mismatch, an empty or non-binary mask, NaN/inf values or a constant image.
    """
    if paper_compatible and is_t1_linear_shape(np.shape(reference)):
        # The authors' evaluation sent every t1-linear image, reference and T1w-ce included,
        # through the network grid and back.
        reference = network_round_trip(_as_image(reference, "reference"))
        candidate = network_round_trip(_as_image(candidate, "candidate"))
    ref, cand, inside = _prepare(reference, candidate, mask, scale)
    if paper_compatible:
        return _paper_compatible(ref, cand, inside)
    diff = ref[inside] - cand[inside]
    return SimilarityMetrics(
        mae_percent=100.0 * float(np.abs(diff).mean()),
        psnr_db=_psnr_from_mse(float(np.mean(diff**2)), 1.0),
        ssim=float(_ssim_map(ref, cand, 1.0, SSIM_SIGMA, SSIM_TRUNCATE)[inside].mean()),
    )
