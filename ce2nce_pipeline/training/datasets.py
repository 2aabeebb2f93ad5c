"""Paired T1w-ce / T1w-nce volumes for training and evaluation.

Pairs come from either

- a **TSV of pairs** with columns ``ce`` and ``nce`` (paths, relative to the TSV's folder
  unless absolute) and optionally ``mask`` (a brain mask), ``ce_mask`` / ``nce_mask`` (the
  two HD-BET masks, whose union is used, as in the paper), ``split`` (``train`` or
  ``validation``; other values such as ``test`` are left out of training), ``pair_id``,
  ``participant_id`` and ``session_id``; other columns are ignored;
- a **ce2nce output dataset** or a **CAPS** folder: every
  ``*_ce-<label>_space-MNI152NLin2009cSym_res-1x1x1_desc-Crop_T1w.nii.gz`` (BIDS entity order)
  or ``*_ce-<label>_space-MNI152NLin2009cSym_desc-Crop_res-1x1x1_T1w.nii.gz`` (Clinica's
  order, in a CAPS ``subjects/`` tree) is paired with the file of the same name without the
  ``ce-<label>`` entity in the same folder.

For the networks each volume is scaled to [0, 1] on its own (min-max, the paper, or
white-matter: :mod:`ce2nce_pipeline.science.intensity`) and resampled to the network grid (128³
by default) with trilinear interpolation, exactly as the Predictor does at inference
(:mod:`ce2nce_pipeline.science.resampling`).
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
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

__all__ = [
    "CAPS_CE_CROP_GLOB",
    "CE_CROP_GLOB",
    "TRAIN",
    "TRAINING_TARGETS",
    "VALIDATION",
    "ImagePair",
    "PairedVolumeDataset",
    "fallback_head_mask",
    "find_dataset_pairs",
    "load_brain_mask",
    "load_pairs",
    "load_volume",
    "normalise_split",
    "prepare_volume",
    "read_pairs_tsv",
    "split_pairs",
]

LOGGER = logging.getLogger(__name__)

TRAIN = "train"
#: What a pair's target holds (``[data] target`` of a recipe; :class:`PairedVolumeDataset`).
TRAINING_TARGETS = ("nce", "ce-without-enhancement")
VALIDATION = "validation"
_SPLIT_NAMES = {"train": TRAIN, "training": TRAIN, "validation": VALIDATION, "val": VALIDATION}


def normalise_split(label: str) -> str:
    """A split label in lower case, with ``training`` → ``train`` and ``val`` → ``validation``."""
    label = label.strip().lower()
    return _SPLIT_NAMES.get(label, label)


#: Contrast-enhanced t1-linear outputs of a ce2nce BIDS-Derivatives dataset (BIDS order).
CE_CROP_GLOB = "*_ce-*_space-MNI152NLin2009cSym_res-1x1x1_desc-Crop_T1w.nii.gz"
#: The same images in a CAPS folder, named as Clinica names them (``desc`` before ``res``).
CAPS_CE_CROP_GLOB = "*_ce-*_space-MNI152NLin2009cSym_desc-Crop_res-1x1x1_T1w.nii.gz"
_CE_ENTITY = re.compile(r"_ce-[A-Za-z0-9]+(?=_)")
_ENTITY = re.compile(r"(?:^|_)(sub|ses)-([A-Za-z0-9]+)")


@dataclass(frozen=True)
class ImagePair:
    """A T1w-ce image and the T1w-nce image of the same session.

    Attributes
    ----------
    pair_id : str
        Unique name of the pair (e.g. ``sub-01_ses-M000_ce-gadolinium``).
    ce, nce : pathlib.Path
        The two images.
    mask : pathlib.Path, optional
        A brain mask valid for both images.
    ce_mask, nce_mask : pathlib.Path, optional
        Brain masks of each image; their union is the paper's evaluation mask.
    split : str, optional
        ``"train"``, ``"validation"`` or another label (e.g. ``"test"``) from the TSV.
    participant_id, session_id : str, optional
        BIDS labels with their prefixes, when known.
    """

    pair_id: str
    ce: Path
    nce: Path
    mask: Path | None = None
    ce_mask: Path | None = None
    nce_mask: Path | None = None
    split: str | None = None
    participant_id: str | None = None
    session_id: str | None = None

    @property
    def has_mask(self) -> bool:
        """Whether any brain mask was given."""
        return any(m is not None for m in (self.mask, self.ce_mask, self.nce_mask))


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _entities(name: str) -> tuple[str | None, str | None]:
    found = dict(_ENTITY.findall(name))
    subject = f"sub-{found['sub']}" if "sub" in found else None
    session = f"ses-{found['ses']}" if "ses" in found else None
    return subject, session


def _check_unique(pairs: Sequence[ImagePair], source: str) -> None:
    seen: set[str] = set()
    for pair in pairs:
        if pair.pair_id in seen:
            raise InvalidInputError(
                f"{source}: pair id {pair.pair_id!r} appears twice; add a unique pair_id column"
            )
        seen.add(pair.pair_id)


def read_pairs_tsv(path: str | os.PathLike[str]) -> list[ImagePair]:
    """Read a TSV of pairs (see the module docstring for its columns).

    Parameters
    ----------
    path : path-like
        Tab-separated file with a header row.

    Returns
    -------
    list of ImagePair
        In file order. ``pair_id`` is the column of that name, else
        ``participant_id[_session_id]`` when unique, else the ce file's name without extension.

    Raises
    ------
    InvalidInputError
        If the file is missing or empty, lacks the ``ce`` or ``nce`` column, names a file that
        does not exist, holds an unknown ``split`` value mixed with empty ones, or repeats a
        pair id.
    """
    source = Path(path)
    try:
        with open(source, newline="", encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream, delimiter="\t"))
    except FileNotFoundError:
        raise InvalidInputError(f"{source}: no such TSV of pairs") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InvalidInputError(f"{source}: unreadable TSV of pairs ({error})") from None
    if not rows:
        raise InvalidInputError(f"{source}: no pair (the TSV needs a header and one row a pair)")
    columns = set(rows[0])
    missing = {"ce", "nce"} - columns
    if missing:
        raise InvalidInputError(
            f"{source}: missing column(s) {sorted(missing)}; the TSV needs tab-separated "
            "columns ce and nce (and optionally mask, ce_mask, nce_mask, split, pair_id)"
        )
    base = source.resolve().parent

    def file_column(row: dict[str, str], line: int, column: str) -> Path | None:
        value = (row.get(column) or "").strip()
        if not value or value.lower() in ("n/a", "na"):
            if column in ("ce", "nce"):
                raise InvalidInputError(f"{source}, line {line}: empty {column} path")
            return None
        file = Path(value).expanduser()
        file = file if file.is_absolute() else base / file
        if not file.is_file():
            raise InvalidInputError(f"{source}, line {line}: {column} file {file} does not exist")
        return file

    pairs = []
    for line, row in enumerate(rows, start=2):
        ce = file_column(row, line, "ce")
        nce = file_column(row, line, "nce")
        split = normalise_split(row.get("split") or "") or None
        subject, session = _entities(ce.name)
        participant = (row.get("participant_id") or "").strip() or subject
        session = (row.get("session_id") or "").strip() or session
        pair_id = (row.get("pair_id") or "").strip() or _stem(ce)
        pairs.append(
            ImagePair(
                pair_id=pair_id,
                ce=ce,
                nce=nce,
                mask=file_column(row, line, "mask"),
                ce_mask=file_column(row, line, "ce_mask"),
                nce_mask=file_column(row, line, "nce_mask"),
                split=split,
                participant_id=participant,
                session_id=session,
            )
        )
    splits = {pair.split for pair in pairs}
    if None in splits and len(splits) > 1:
        raise InvalidInputError(
            f"{source}: the split column is filled for some pairs only; fill it for every pair "
            "(train, validation, or e.g. test) or drop it"
        )
    _check_unique(pairs, str(source))
    return pairs


def _ce_crops(directory: Path) -> list[Path]:
    """The T1w-ce t1-linear images of a ce2nce output dataset or of a CAPS ``subjects/`` tree."""
    found = set(directory.glob(f"sub-*/**/{CE_CROP_GLOB}"))
    found.update(directory.glob(f"subjects/sub-*/**/{CAPS_CE_CROP_GLOB}"))
    return sorted(found)


def find_dataset_pairs(root: str | os.PathLike[str]) -> list[ImagePair]:
    """Pair the t1-linear outputs of a ce2nce output dataset or of a CAPS folder.

    Every ``*_ce-<label>_space-MNI152NLin2009cSym_res-1x1x1_desc-Crop_T1w.nii.gz`` under
    ``sub-*/`` (or Clinica's ``..._desc-Crop_res-1x1x1_T1w.nii.gz`` under ``subjects/sub-*/``)
    is paired with the file of the same name without ``_ce-<label>`` in the same
    folder; a ce image without that partner is skipped (logged).

    Returns
    -------
    list of ImagePair
        Sorted by path; ``pair_id`` is the ce name up to ``_space-``.

    Raises
    ------
    InvalidInputError
        If ``root`` is not a folder or holds no complete pair.
    """
    directory = Path(root)
    if not directory.is_dir():
        raise InvalidInputError(f"{directory}: not a folder (expected a ce2nce output dataset)")
    pairs, orphans = [], []
    for ce in _ce_crops(directory):
        nce = ce.with_name(_CE_ENTITY.sub("", ce.name, count=1))
        if not nce.is_file():
            orphans.append(ce.name)
            continue
        subject, session = _entities(ce.name)
        pairs.append(
            ImagePair(
                pair_id=ce.name.split("_space-")[0],
                ce=ce,
                nce=nce,
                participant_id=subject,
                session_id=session,
            )
        )
    if orphans:
        LOGGER.warning(
            "%d T1w-ce image(s) have no T1w-nce partner in their folder and are skipped, e.g. %s",
            len(orphans),
            orphans[0],
        )
    if not pairs:
        raise InvalidInputError(
            f"{directory}: no pair of {CE_CROP_GLOB} and the same name without ce-<label>; run "
            "ce2nce (t1-linear) on a dataset holding both images of a session first"
        )
    _check_unique(pairs, str(directory))
    return pairs


def load_pairs(
    *,
    pairs_tsv: str | os.PathLike[str] | None = None,
    dataset_dir: str | os.PathLike[str] | None = None,
) -> list[ImagePair]:
    """Pairs from exactly one of a TSV (:func:`read_pairs_tsv`) or a dataset."""
    if (pairs_tsv is None) == (dataset_dir is None):
        raise ValueError("give exactly one of pairs_tsv and dataset_dir")
    if pairs_tsv is not None:
        return read_pairs_tsv(pairs_tsv)
    return find_dataset_pairs(dataset_dir)


def split_pairs(
    pairs: Sequence[ImagePair], validation_fraction: float = 0.2, seed: int = 0
) -> tuple[list[ImagePair], list[ImagePair]]:
    """Split pairs into training and validation sets.

    When the pairs carry a ``split`` (from the TSV), it is used: ``train`` and ``validation``
    pairs are returned and the others (e.g. ``test``) are left out. Otherwise
    ``round(validation_fraction * n)`` pairs (at least 1) are drawn for validation with a
    NumPy generator seeded with ``seed``: the same pairs and seed give the same split.

    Returns
    -------
    train, validation : list of ImagePair
        Both in input order.

    Raises
    ------
    InvalidInputError
        If either set would be empty.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    pairs = list(pairs)
    if any(pair.split is not None for pair in pairs):
        train = [pair for pair in pairs if pair.split == TRAIN]
        validation = [pair for pair in pairs if pair.split == VALIDATION]
        left_out = len(pairs) - len(train) - len(validation)
        if left_out:
            LOGGER.info("%d pair(s) of another split (e.g. test) are left out", left_out)
    else:
        if len(pairs) < 2:
            raise InvalidInputError(
                f"{len(pairs)} pair(s): training needs at least 2 (one held out for validation, "
                "which selects the best model)"
            )
        n_validation = min(max(1, round(validation_fraction * len(pairs))), len(pairs) - 1)
        chosen = set(np.random.default_rng(seed).permutation(len(pairs))[:n_validation].tolist())
        train = [pair for i, pair in enumerate(pairs) if i not in chosen]
        validation = [pair for i, pair in enumerate(pairs) if i in chosen]
    if not train or not validation:
        raise InvalidInputError(
            f"the split has {len(train)} training and {len(validation)} validation pair(s); "
            "both are needed (the best model is chosen on the validation pairs)"
        )
    return train, validation


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
