"""Paired T1w-ce / T1w-nce images for training and evaluation: where they are, and their split.

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

The volumes of a pair are read by :mod:`.datasets`.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError

__all__ = [
    "CAPS_CE_CROP_GLOB",
    "CE_CROP_GLOB",
    "TRAIN",
    "TRAINING_TARGETS",
    "VALIDATION",
    "ImagePair",
    "find_dataset_pairs",
    "load_pairs",
    "normalise_split",
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
