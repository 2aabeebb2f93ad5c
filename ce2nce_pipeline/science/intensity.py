"""Intensity normalisation of the networks' inputs and targets.

Two ways of scaling one image to [0, 1] (:func:`normalise_intensities`):

``"min-max"`` (the paper)
    ``(x - min) / (max - min)``: the image spans [0, 1]. On a T1w-ce the maximum is an
    enhanced vessel, on a T1w-nce the brightest tissue, so the same tissue lands at different
    levels in the two images and the network must estimate the gap from the whole image.

``"white-matter"``
    ``(x - min) / (wm - min) * WHITE_MATTER_LEVEL``, clipped to [0, 1], where ``wm`` is the
    median intensity in the white matter of the MNI152 2009 tissue prior (probability
    >= :data:`WHITE_MATTER_PRIOR_THRESHOLD`) on the t1-linear field of view. Gadolinium does not
    enhance normal white matter, so the same tissue lands at the same level in a T1w-ce and its
    T1w-nce; intensities above ``wm / WHITE_MATTER_LEVEL`` (enhanced vessels) are clipped. Needs
    images on the t1-linear field of view (any matrix size: the prior is resampled to it).

A network's *normalisation*, recorded in its checkpoint
(``preprocessing.intensity_normalisation.method``), says how its input (the T1w-ce) and its
target (the T1w-nce) were scaled, :data:`NORMALISATION_STEPS`:

- ``"min-max"``: both min-max (the paper, the default);
- ``"white-matter"``: both white-matter;
- ``"white-matter-input"``: the input white-matter, the target min-max. The network sees
  tissue at the same level whatever the enhancement, and its output is in the paper's units,
  where the clip at 1 (the T1w-nce's brightest tissue) caps any enhancement it leaves. A
  departure from the paper, measured for the default model (docs/default_model.md).

:func:`scale_network_input` and :func:`scale_network_target` apply them; the first also returns
the :class:`~.resampling.MinMaxParams` whose :func:`~.resampling.minmax_unscale` maps a network
output back to the input image's intensity units. Pure functions of arrays.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from .resampling import (
    T1_LINEAR_SHAPE,
    MinMaxParams,
    check_finite_nonconstant,
    minmax_scale,
    resample_to_shape,
)

__all__ = [
    "INTENSITY_NORMALISATIONS",
    "NORMALISATION_STEPS",
    "SCALINGS",
    "WHITE_MATTER_LEVEL",
    "WHITE_MATTER_PRIOR_THRESHOLD",
    "check_normalisation",
    "normalise_intensities",
    "scale_network_input",
    "scale_network_target",
    "white_matter_region",
    "white_matter_scale",
]

#: Ways :func:`normalise_intensities` scales one image.
SCALINGS: tuple[str, ...] = ("min-max", "white-matter")
#: A network's normalisation (checkpoint spelling) -> (input scaling, target/output scaling).
NORMALISATION_STEPS: dict[str, tuple[str, str]] = {
    "min-max": ("min-max", "min-max"),
    "white-matter": ("white-matter", "white-matter"),
    "white-matter-input": ("white-matter", "min-max"),
}
#: The normalisations a checkpoint may record.
INTENSITY_NORMALISATIONS: tuple[str, ...] = tuple(NORMALISATION_STEPS)
#: Where the white-matter median lands with ``"white-matter"``: leaves room up to 4x the
#: white matter before clipping. Scalp fat reaches 2.3x in Colin27 and up to 2.8x after the
#: training set's intensity augmentation; at 0.4 (2.5x) it was clipped, which hid from the
#: network the level that sets the target's maximum (docs/training.md).
WHITE_MATTER_LEVEL: float = 0.25
#: White-matter prior probability above which a voxel counts as white matter (about 300,000
#: voxels of the t1-linear grid).
WHITE_MATTER_PRIOR_THRESHOLD: float = 0.9


def check_normalisation(method: str) -> str:
    """Return ``method`` if it is a known network normalisation, else raise ``ValueError``."""
    if method not in INTENSITY_NORMALISATIONS:
        raise ValueError(
            f"unknown intensity normalisation {method!r}; choose one of "
            f"{list(INTENSITY_NORMALISATIONS)}"
        )
    return method


@lru_cache(maxsize=8)
def _region(shape: tuple[int, int, int]) -> NDArray[np.bool_]:
    from .templates import tissue_priors

    _, wm, _ = tissue_priors()
    prior = wm if shape == T1_LINEAR_SHAPE else resample_to_shape(np.array(wm), shape)
    region = np.asarray(prior >= WHITE_MATTER_PRIOR_THRESHOLD)
    region.flags.writeable = False
    return region


def white_matter_region(shape: tuple[int, ...]) -> NDArray[np.bool_]:
    """Voxels of the MNI152 2009 white-matter prior (p >= 0.9) on a grid of ``shape``.

    The grid must cover the t1-linear field of view (169×208×179 mm); other matrix sizes get
    the prior resampled (trilinear) before thresholding. Cached and read-only.

    Raises
    ------
    ValueError
        If ``shape`` is not 3 positive sizes or leaves no white-matter voxel.
    """
    if len(shape) != 3 or any(int(s) != s or s < 1 for s in shape):
        raise ValueError(f"expected a 3D shape, got {tuple(shape)!r}")
    region = _region(tuple(int(s) for s in shape))
    if not region.any():
        raise ValueError(f"no white-matter prior voxel on a {tuple(shape)} grid: too coarse")
    return region


def white_matter_scale(
    data: NDArray[np.floating],
    region: NDArray[np.bool_],
    *,
    level: float = WHITE_MATTER_LEVEL,
    source: str | None = None,
) -> tuple[NDArray[np.floating], MinMaxParams]:
    """Map the minimum to 0 and the median in ``region`` to ``level``; clip to [0, 1].

    Parameters
    ----------
    data : numpy.ndarray
        A finite, non-constant image.
    region : numpy.ndarray of bool
        Same shape: where the reference tissue (white matter) is.
    level : float
        Value of the region's median after scaling, in (0, 1].
    source : str, optional
        Name of the image for error messages.

    Returns
    -------
    scaled : numpy.ndarray
        Floating dtype kept (integers become float32), values in [0, 1].
    params : MinMaxParams
        ``minimum`` = the image's minimum, ``maximum`` = the intensity that maps to 1, so that
        :func:`~.resampling.minmax_unscale` inverts the scaling below the clip.

    Raises
    ------
    ValueError
        If the image is not finite or constant, the shapes differ, the region is empty, or the
        region's median is not above the image's minimum (no tissue there: is the image on the
        t1-linear grid?).
    """
    prefix = f"{source}: " if source else ""
    check_finite_nonconstant(data, source=source)
    values = np.asarray(data)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float32)
    region = np.asarray(region, dtype=bool)
    if region.shape != values.shape:
        raise ValueError(f"{prefix}region shape {region.shape} differs from image {values.shape}")
    if not region.any():
        raise ValueError(f"{prefix}empty white-matter region")
    if not 0.0 < level <= 1.0:
        raise ValueError(f"level must be in (0, 1], got {level}")
    low = float(values.min())
    reference = float(np.median(values[region]))
    if not reference > low:
        raise ValueError(
            f"{prefix}no signal in the white matter of the MNI152 prior (median {reference:g} "
            "= image minimum): is the image a t1-linear output (registered to "
            "MNI152NLin2009cSym)?"
        )
    params = MinMaxParams(low, low + (reference - low) / level)
    dtype = values.dtype.type
    scaled = (values - dtype(params.minimum)) / dtype(params.scale)
    return np.clip(scaled, dtype(0), dtype(1)), params


def normalise_intensities(
    data: NDArray[np.floating], scaling: str = "min-max", *, source: str | None = None
) -> tuple[NDArray[np.floating], MinMaxParams]:
    """Scale one image to [0, 1] by ``scaling``, one of :data:`SCALINGS`.

    Returns the scaled image and the parameters for :func:`~.resampling.minmax_unscale`.

    Raises
    ------
    ValueError
        For an unknown scaling or an image it cannot scale.
    """
    if scaling not in SCALINGS:
        raise ValueError(
            f"unknown intensity normalisation {scaling!r}; choose one of {list(SCALINGS)}"
        )
    if scaling == "min-max":
        return minmax_scale(data, source=source)
    return white_matter_scale(data, white_matter_region(np.shape(data)), source=source)


def scale_network_input(
    data: NDArray[np.floating], method: str = "min-max", *, source: str | None = None
) -> tuple[NDArray[np.floating], MinMaxParams]:
    """Scale a T1w-ce for a network trained with normalisation ``method``.

    Returns
    -------
    scaled : numpy.ndarray
        The network's input, in [0, 1].
    params : MinMaxParams
        Maps the network's output back to this image's units: the *target* scaling of
        ``method`` applied to this image (for ``"white-matter-input"``, its min-max range, as
        the paper maps outputs back).
    """
    input_scaling, output_scaling = NORMALISATION_STEPS[check_normalisation(method)]
    scaled, params = normalise_intensities(data, input_scaling, source=source)
    if output_scaling != input_scaling:
        _, params = normalise_intensities(data, output_scaling, source=source)
    return scaled, params


def scale_network_target(
    data: NDArray[np.floating], method: str = "min-max", *, source: str | None = None
) -> NDArray[np.floating]:
    """Scale a T1w-nce as the target of a network trained with normalisation ``method``."""
    _, output_scaling = NORMALISATION_STEPS[check_normalisation(method)]
    scaled, _ = normalise_intensities(data, output_scaling, source=source)
    return scaled
