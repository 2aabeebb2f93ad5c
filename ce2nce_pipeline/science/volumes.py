"""Tissue label maps, tissue volumes and Dice overlap.

The paper (Bottani et al. 2024, section 2.4.2) segments each image with SPM unified segmentation
(Clinica ``t1-volume-tissue-segmentation``), turns the gray matter (GM), white matter (WM) and
cerebrospinal fluid (CSF) probability maps into binary masks by maximum probability, and takes
volume = voxel count x voxel volume. The total intracranial volume (TIV) is GM + WM + CSF.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

logger = logging.getLogger(__name__)

#: Value of each class in the label maps made by :func:`max_probability_labels`.
BACKGROUND = 0
LABELS: dict[str, int] = {"GM": 1, "WM": 2, "CSF": 3}

#: Probability maps may overshoot [0, 1] by this much (interpolation, integer storage).
_PROBABILITY_TOLERANCE = 1e-3


def as_binary_mask(array: ArrayLike, name: str = "mask") -> NDArray[np.bool_]:
    """A boolean copy of a mask given as booleans or 0/1 numbers.

    Parameters
    ----------
    array : array_like
        Boolean or 0/1 values.
    name : str
        Name of the mask in error messages.

    Returns
    -------
    numpy.ndarray
        Boolean array of the same shape (``array`` itself when it is already boolean).

    Raises
    ------
    ValueError
        If the values are not numbers, hold NaN, or hold values other than 0 and 1.
    """
    values = np.asarray(array)
    if values.dtype == np.bool_:
        return values
    if not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"{name} must be a boolean or 0/1 array, got dtype {values.dtype}")
    if np.issubdtype(values.dtype, np.floating) and np.isnan(values).any():
        raise ValueError(f"{name} contains NaN values")
    if not np.isin(values, (0, 1)).all():
        raise ValueError(f"{name} must contain only 0 and 1 (or be boolean)")
    return values.astype(bool)


def dice(a: ArrayLike, b: ArrayLike, *, empty: float = 1.0) -> float:
    """Dice similarity coefficient ``2 |A & B| / (|A| + |B|)`` of two binary masks.

    Parameters
    ----------
    a, b : array_like
        Boolean or 0/1 arrays of the same shape.
    empty : float, default 1.0
        Value returned when both masks are empty (two empty sets are identical, so 1 by default;
        pass ``numpy.nan`` to treat the case as undefined).

    Returns
    -------
    float
        The Dice coefficient in [0, 1].

    Raises
    ------
    ValueError
        If the shapes differ or an array holds values other than 0 and 1.
    """
    mask_a = as_binary_mask(a, "a")
    mask_b = as_binary_mask(b, "b")
    if mask_a.shape != mask_b.shape:
        raise ValueError(f"mask shapes differ: {mask_a.shape} and {mask_b.shape}")
    total = int(mask_a.sum()) + int(mask_b.sum())
    if total == 0:
        return float(empty)
    return 2.0 * int(np.logical_and(mask_a, mask_b).sum()) / total


def _as_probability(array: ArrayLike, name: str) -> NDArray[np.float64]:
    values = np.asarray(array, dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError(f"{name} probability map contains NaN values")
    low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
    if low < -_PROBABILITY_TOLERANCE or high > 1.0 + _PROBABILITY_TOLERANCE:
        raise ValueError(
            f"{name} probability map has values in [{low}, {high}], outside [0, 1]; "
            "pass probabilities, not labels or scaled intensities"
        )
    return values


def max_probability_labels(
    gm: ArrayLike,
    wm: ArrayLike,
    csf: ArrayLike,
    *,
    background: ArrayLike | str | None = "complement",
    threshold: float = 0.0,
) -> NDArray[np.uint8]:
    """Maximum-probability label map from GM, WM and CSF probability maps.

    A voxel takes the tissue of largest probability (ties: GM before WM before CSF), unless that
    largest tissue probability ``p_max`` is not strictly greater than both ``threshold`` and the
    background probability, in which case it is background.

    Parameters
    ----------
    gm, wm, csf : array_like
        Probability maps of the same shape, values in [0, 1] (e.g. SPM's c1, c2, c3 images).
    background : {"complement"}, array_like or None, default "complement"
        Probability of "not GM/WM/CSF" to compete with the tissues. ``"complement"`` uses
        ``1 - (gm + wm + csf)`` clipped at 0, i.e. SPM's remaining classes (bone, soft tissue,
        air) pooled, which makes the rule the maximum probability over {background, GM, WM, CSF}.
        An array gives that probability explicitly (e.g. the sum of SPM's c4-c6 maps). ``None``
        uses no background class: only ``threshold`` decides.
    threshold : float, default 0.0
        A voxel whose largest tissue probability is ``<= threshold`` is background. With the
        default, voxels where all three probabilities are zero are background.

    Returns
    -------
    numpy.ndarray
        uint8 labels: 0 background, 1 GM, 2 WM, 3 CSF (see :data:`LABELS`).

    Raises
    ------
    ValueError
        On shape mismatches, NaNs, probabilities outside [0, 1], an unknown ``background``
        keyword or a threshold outside [0, 1).
    """
    maps = [_as_probability(p, name) for p, name in ((gm, "GM"), (wm, "WM"), (csf, "CSF"))]
    shapes = {m.shape for m in maps}
    if len(shapes) != 1:
        raise ValueError(f"probability map shapes differ: {[m.shape for m in maps]}")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    stack = np.stack(maps)
    tissue_index = np.argmax(stack, axis=0)
    p_max = np.max(stack, axis=0)
    is_tissue = p_max > threshold
    if isinstance(background, str):
        if background != "complement":
            raise ValueError(
                f"background must be 'complement', an array or None, got {background!r}"
            )
        is_tissue &= p_max > np.clip(1.0 - stack.sum(axis=0), 0.0, None)
    elif background is not None:
        p_background = _as_probability(background, "background")
        if p_background.shape != stack.shape[1:]:
            raise ValueError(
                f"background shape {p_background.shape} differs from the tissue maps' "
                f"{stack.shape[1:]}"
            )
        is_tissue &= p_max > p_background
    codes = np.array([LABELS["GM"], LABELS["WM"], LABELS["CSF"]], dtype=np.uint8)
    return np.where(is_tissue, codes[tissue_index], np.uint8(BACKGROUND)).astype(np.uint8)


def voxel_volume_mm3(
    *, affine: ArrayLike | None = None, zooms: Sequence[float] | None = None
) -> float:
    """Volume of one voxel in mm³, from an affine or from voxel sizes.

    Parameters
    ----------
    affine : array_like, optional
        4x4 voxel-to-world affine (mm); the volume is ``|det(affine[:3, :3])|``, which also holds
        for rotated or sheared grids.
    zooms : sequence of float, optional
        Voxel sizes in mm along the three axes (e.g. ``header.get_zooms()[:3]``).

    Returns
    -------
    float
        The voxel volume in mm³.

    Raises
    ------
    ValueError
        If not exactly one of ``affine`` and ``zooms`` is given, or if it is malformed,
        non-finite or gives a zero volume.
    """
    if (affine is None) == (zooms is None):
        raise ValueError("give exactly one of affine and zooms")
    if affine is not None:
        matrix = np.asarray(affine, dtype=np.float64)
        if matrix.shape != (4, 4):
            raise ValueError(f"affine must be 4x4, got shape {matrix.shape}")
        volume = abs(float(np.linalg.det(matrix[:3, :3])))
    else:
        sizes = np.asarray(zooms, dtype=np.float64)
        if sizes.shape != (3,):
            raise ValueError(f"zooms must hold 3 voxel sizes, got {sizes.shape}")
        volume = abs(float(np.prod(sizes)))
    if not np.isfinite(volume) or volume == 0.0:
        raise ValueError(f"voxel volume is {volume} mm³: the affine or zooms are invalid")
    return volume


@dataclass(frozen=True)
class TissueVolumes:
    """Tissue volumes in cm³.

    Attributes
    ----------
    gm, wm, csf : float
        Gray matter, white matter and CSF volumes.
    """

    gm: float
    wm: float
    csf: float

    @property
    def tiv(self) -> float:
        """Total intracranial volume, GM + WM + CSF."""
        return self.gm + self.wm + self.csf

    def as_dict(self) -> dict[str, float]:
        """Return ``{"GM": ..., "WM": ..., "CSF": ..., "TIV": ...}``."""
        return {"GM": self.gm, "WM": self.wm, "CSF": self.csf, "TIV": self.tiv}


def tissue_volumes(
    labels: ArrayLike,
    *,
    affine: ArrayLike | None = None,
    zooms: Sequence[float] | None = None,
) -> TissueVolumes:
    """Tissue volumes (cm³) of a label map: voxel count x voxel volume.

    Parameters
    ----------
    labels : array_like
        3D integer label map with the values of :data:`LABELS` (other values are ignored, 0 is
        background), e.g. from :func:`max_probability_labels`.
    affine, zooms
        The image geometry, exactly one of them; see :func:`voxel_volume_mm3`.

    Returns
    -------
    TissueVolumes
        GM, WM and CSF volumes in cm³ and their sum as ``tiv``.

    Raises
    ------
    ValueError
        If ``labels`` is not a 3D integer array, or the geometry is invalid.
    """
    label_map = np.asarray(labels)
    if label_map.ndim != 3 or not np.issubdtype(label_map.dtype, np.integer):
        raise ValueError(
            f"labels must be a 3D integer array, got {label_map.ndim}D of dtype {label_map.dtype}"
        )
    voxel_cm3 = voxel_volume_mm3(affine=affine, zooms=zooms) / 1000.0
    counts = {name: int(np.count_nonzero(label_map == code)) for name, code in LABELS.items()}
    return TissueVolumes(
        gm=counts["GM"] * voxel_cm3, wm=counts["WM"] * voxel_cm3, csf=counts["CSF"] * voxel_cm3
    )


def dice_per_tissue(
    labels_reference: ArrayLike, labels_candidate: ArrayLike, *, empty: float = 1.0
) -> dict[str, float]:
    """Dice of each tissue's binary map between two label maps.

    Parameters
    ----------
    labels_reference, labels_candidate : array_like
        Integer label maps of the same shape, coded as :data:`LABELS`.
    empty : float, default 1.0
        Passed to :func:`dice` for a tissue absent from both maps.

    Returns
    -------
    dict
        ``{"GM": dice, "WM": dice, "CSF": dice}``.

    Raises
    ------
    ValueError
        If the shapes differ or the maps are not integer arrays.
    """
    ref = np.asarray(labels_reference)
    cand = np.asarray(labels_candidate)
    for name, array in (("labels_reference", ref), ("labels_candidate", cand)):
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name} must be an integer label map, got dtype {array.dtype}")
    if ref.shape != cand.shape:
        raise ValueError(f"label map shapes differ: {ref.shape} and {cand.shape}")
    return {name: dice(ref == code, cand == code, empty=empty) for name, code in LABELS.items()}
