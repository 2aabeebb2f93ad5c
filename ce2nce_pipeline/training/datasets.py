"""The volumes of paired T1w-ce / T1w-nce images, as the networks see them, and their masks.

The pairs are found by :mod:`.pairs`. For the networks each volume is scaled to [0, 1] on its
own (min-max, the paper, or white-matter: :mod:`ce2nce_pipeline.science.intensity`) and
resampled to the network grid (128³ by default) with trilinear interpolation, exactly as the
Predictor does at inference (:mod:`ce2nce_pipeline.science.resampling`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from scipy import ndimage

from ..errors import InvalidInputError
from ..science.enhancement_target import ce_without_enhancement
from ..science.intensity import (
    check_normalisation,
    scale_network_input,
    scale_network_target,
)
from ..science.metrics import union_mask
from ..science.resampling import (
    NETWORK_SHAPE,
    check_t1_linear_shape,
    resample_to_shape,
)
from .pairs import TRAINING_TARGETS, ImagePair

__all__ = [
    "PairedVolumeDataset",
    "fallback_head_mask",
    "load_brain_mask",
    "load_volume",
    "prepare_volume",
]

LOGGER = logging.getLogger(__name__)


def load_volume(
    path: str | os.PathLike[str], *, check_grid: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Read a 3D NIfTI image as float32 data and its affine.

    Parameters
    ----------
    path : path-like
        The image.
    check_grid : bool
        Require the t1-linear grid (169×208×179), as the Predictor does at inference.

    Raises
    ------
    InvalidInputError
        If the file cannot be read, is not 3D, is off the t1-linear grid (``check_grid``), or
        holds NaN/infinite values.
    """
    source = Path(path)
    try:
        image = nib.load(source)
        data = np.asarray(image.dataobj, dtype=np.float32)
    except (OSError, ValueError, nib.filebasedimages.ImageFileError) as error:
        raise InvalidInputError(f"{source}: unreadable image ({error})") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InvalidInputError(f"{source}: expected a 3D image, got shape {data.shape}")
    if check_grid:
        try:
            check_t1_linear_shape(data.shape, source=str(source))
        except ValueError as error:
            raise InvalidInputError(str(error)) from None
    if not np.isfinite(data).all():
        raise InvalidInputError(f"{source}: image holds NaN or infinite values")
    return data, np.asarray(image.affine, dtype=np.float64)


def prepare_volume(
    data: np.ndarray,
    network_shape: tuple[int, int, int] = NETWORK_SHAPE,
    *,
    source: str = "",
    normalisation: str = "min-max",
    role: str = "input",
) -> np.ndarray:
    """Scale a volume to [0, 1], then resample it to the network grid (trilinear).

    The same two steps, in the same order, as the Predictor's input side. ``normalisation`` is
    a network normalisation of :mod:`ce2nce_pipeline.science.intensity` (``"min-max"``, the
    paper's, by default); ``role`` is ``"input"`` (a T1w-ce) or ``"target"`` (a T1w-nce).

    Raises
    ------
    InvalidInputError
        If the volume is constant or not finite.
    """
    if role not in ("input", "target"):
        raise ValueError(f"role must be 'input' or 'target', got {role!r}")
    values = np.asarray(data, dtype=np.float32)
    try:
        if role == "input":
            scaled, _ = scale_network_input(values, normalisation, source=source or None)
        else:
            scaled = scale_network_target(values, normalisation, source=source or None)
    except ValueError as error:
        raise InvalidInputError(str(error)) from None
    return resample_to_shape(scaled, network_shape)


def fallback_head_mask(image: np.ndarray) -> np.ndarray:
    """A head mask for when no brain mask is given: Otsu threshold, largest connected
    component, holes filled in 3D and in the slices of each axis.

    This is **not** a brain mask: it keeps the scalp and skull, so metrics computed in it are
    not comparable with the paper's (HD-BET brain masks). Give brain masks (``mask`` or
    ``ce_mask``/``nce_mask`` columns) for paper-like numbers.

    Parameters
    ----------
    image : numpy.ndarray
        A 3D image, usually the real T1w-nce.

    Returns
    -------
    numpy.ndarray
        Boolean mask, same shape; never empty for a non-constant image.
    """
    from skimage.filters import threshold_otsu

    values = np.asarray(image, dtype=np.float64)
    if values.max() == values.min():
        raise ValueError("cannot threshold a constant image")
    mask = values > threshold_otsu(values)
    labels, count = ndimage.label(mask)
    if count > 1:
        sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
        mask = labels == (int(np.argmax(sizes)) + 1)
    mask = ndimage.binary_fill_holes(mask)
    # Dark CSF below the threshold reaches the outside through the sulci, so the ventricles
    # are not 3D holes; they are holes of the 2D slices.
    for axis in range(mask.ndim):
        slices = [ndimage.binary_fill_holes(s) for s in np.moveaxis(mask, axis, 0)]
        mask = np.moveaxis(np.stack(slices), 0, axis)
    return np.ascontiguousarray(mask)


def load_brain_mask(
    pair: ImagePair, shape: tuple[int, ...], nce: np.ndarray | None = None
) -> tuple[np.ndarray, str]:
    """The evaluation mask of a pair and where it came from.

    ``mask`` when given; else the union of ``ce_mask`` and ``nce_mask`` (either alone when only
    one is given); else :func:`fallback_head_mask` of ``nce``.

    Parameters
    ----------
    pair : ImagePair
        The pair.
    shape : tuple of int
        Shape the masks must have (the images' shape).
    nce : numpy.ndarray, optional
        The T1w-nce data, needed for the fallback.

    Returns
    -------
    mask : numpy.ndarray
        Boolean, ``shape``.
    source : str
        ``"mask"``, ``"union(ce_mask, nce_mask)"``, ``"ce_mask"``, ``"nce_mask"`` or
        ``"otsu_head(nce)"``.

    Raises
    ------
    InvalidInputError
        If a mask file has another shape than the images or is empty.
    """

    def read(path: Path) -> np.ndarray:
        data, _ = load_volume(path, check_grid=False)
        if data.shape != tuple(shape):
            raise InvalidInputError(
                f"{path}: mask of shape {data.shape} does not match its images {tuple(shape)}"
            )
        mask = data > 0.5
        if not mask.any():
            raise InvalidInputError(f"{path}: empty mask")
        return mask

    if pair.mask is not None:
        return read(pair.mask), "mask"
    if pair.ce_mask is not None and pair.nce_mask is not None:
        return union_mask(read(pair.ce_mask), read(pair.nce_mask)), "union(ce_mask, nce_mask)"
    if pair.ce_mask is not None:
        return read(pair.ce_mask), "ce_mask"
    if pair.nce_mask is not None:
        return read(pair.nce_mask), "nce_mask"
    if nce is None:
        raise ValueError(f"{pair.pair_id}: no mask given and no nce image for the fallback")
    return fallback_head_mask(nce), "otsu_head(nce)"


class PairedVolumeDataset(torch.utils.data.Dataset):
    """Pairs as network-grid tensors.

    Item ``i`` is a dict with ``ce`` and ``nce`` (float32 tensors ``1×D×H×W`` in [0, 1]),
    ``mask`` (bool tensor ``D×H×W``: the pair's brain mask resampled to the network grid, or
    :func:`fallback_head_mask` of the resampled nce), ``mask_source`` and ``pair_id``.

    Parameters
    ----------
    pairs : sequence of ImagePair
        The pairs.
    network_shape : tuple of 3 int
        The network grid (128³ in the paper).
    check_grid : bool
        Require t1-linear inputs (169×208×179), as at inference.
    cache : bool
        Keep prepared volumes in memory (128³ float32: 8 MiB per volume) instead of reading
        and resampling them at every access.
    normalisation : {"min-max", "white-matter", "white-matter-input"}
        How each T1w-ce (input) and T1w-nce (target) is scaled to [0, 1] (see
        :func:`prepare_volume`).
    target : {"nce", "ce-without-enhancement"}
        What ``nce`` holds: the scaled T1w-nce (the paper's target), or the scaled T1w-ce made
        no brighter than it inside the brain mask
        (:func:`~ce2nce_pipeline.science.enhancement_target.ce_without_enhancement`), which
        leaves the sequence and noise differences of two real series out of what is learnt.

    Raises
    ------
    InvalidInputError
        (on access) for unreadable images, ce/nce of different shapes or affines, constant
        images.
    """

    def __init__(
        self,
        pairs: Sequence[ImagePair],
        network_shape: tuple[int, int, int] = NETWORK_SHAPE,
        *,
        check_grid: bool = True,
        cache: bool = True,
        normalisation: str = "min-max",
        target: str = "nce",
    ) -> None:
        if target not in TRAINING_TARGETS:
            choices = ", ".join(TRAINING_TARGETS)
            raise ValueError(f"target must be one of {choices}, got {target!r}")
        self.pairs = list(pairs)
        self.normalisation = check_normalisation(normalisation)
        self.target = target
        self.network_shape = tuple(int(s) for s in network_shape)
        self.check_grid = check_grid
        self.cache = cache
        self._cached: dict[int, dict[str, object]] = {}

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, index: int) -> dict[str, object]:
        pair = self.pairs[index]
        ce, ce_affine = load_volume(pair.ce, check_grid=self.check_grid)
        nce, nce_affine = load_volume(pair.nce, check_grid=self.check_grid)
        if ce.shape != nce.shape or not np.allclose(ce_affine, nce_affine, atol=1e-3):
            raise InvalidInputError(
                f"{pair.ce}: not on the grid of its T1w-nce {pair.nce} (shape {ce.shape} vs "
                f"{nce.shape}, or different affines); both must be t1-linear outputs"
            )
        ce_net, nce_net = (
            prepare_volume(
                data,
                self.network_shape,
                source=str(path),
                normalisation=self.normalisation,
                role=role,
            )
            for data, path, role in ((ce, pair.ce, "input"), (nce, pair.nce, "target"))
        )
        if pair.has_mask:
            mask, source = load_brain_mask(pair, ce.shape)
            mask = resample_to_shape(mask.astype(np.float32), self.network_shape) >= 0.5
        else:
            mask, source = fallback_head_mask(nce_net), "otsu_head(nce)"
        if self.target == "ce-without-enhancement":
            nce_net = ce_without_enhancement(ce_net, nce_net, mask & (ce_net > 0))
        return {
            "ce": torch.from_numpy(np.ascontiguousarray(ce_net, dtype=np.float32))[None],
            "nce": torch.from_numpy(np.ascontiguousarray(nce_net, dtype=np.float32))[None],
            "mask": torch.from_numpy(np.ascontiguousarray(mask)),
            "mask_source": source,
            "pair_id": pair.pair_id,
        }

    def __getitem__(self, index: int) -> dict[str, object]:
        if index in self._cached:
            return self._cached[index]
        item = self._load(index)
        if self.cache:
            self._cached[index] = item
        return item
