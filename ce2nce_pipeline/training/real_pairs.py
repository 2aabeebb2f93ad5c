"""Real T1w-ce / T1w-nce pairs of a BIDS dataset, preprocessed as the participant level does.

Each image of a pair goes through :func:`ce2nce_pipeline.science.t1_linear.t1_linear` on its
own (its own N4, its own affine registration, the crop): the very functions of the participant
graph's t1-linear nodes, so a network trained on these pairs sees what it meets at inference.
The result is a ``pairs.tsv`` that ``ce2nce-train`` and ``ce2nce-evaluate`` read, with a
``split`` column taken from an explicit subject list (chosen before any result is seen):
subjects are never split across training, validation and test.

Already processed images are kept, so an interrupted preparation resumes.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib

from ..errors import Ce2nceError

__all__ = ["RealPair", "find_real_pairs", "prepare_real_pairs", "split_of", "write_pairs_tsv"]

LOGGER = logging.getLogger(__name__)

#: Splits a subject may be given.
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class RealPair:
    """One session's raw T1w-ce and T1w-nce files."""

    pair_id: str
    participant_id: str
    session_id: str
    ce: Path
    nce: Path


def find_real_pairs(
    bids_dir: Path, participant_labels: Sequence[str] | None = None
) -> list[RealPair]:
    """Every ce/nce pair of a BIDS dataset (pybids, as the participant level finds them).

    ``participant_labels`` (without ``sub-``) restricts the search to these subjects.
    """
    from ..bids import collect_t1w_images, pair_images

    pairs = []
    for pair in pair_images(collect_t1w_images(Path(bids_dir), participant_labels)):
        subject = f"sub-{pair.ce.subject}"
        session = f"ses-{pair.ce.session}" if pair.ce.session else ""
        pair_id = "_".join(filter(None, (subject, session)))
        pairs.append(RealPair(pair_id, subject, session, pair.ce.path, pair.nce.path))
    return pairs


def split_of(participant_id: str, splits: Mapping[str, Sequence[str]]) -> str:
    """The split a subject belongs to (``train`` unless listed under validation or test).

    Raises
    ------
    Ce2nceError
        When a subject is listed under two splits.
    """
    found = [name for name, subjects in splits.items() if participant_id in subjects]
    if len(found) > 1:
        raise Ce2nceError(f"{participant_id} is listed in several splits ({', '.join(found)})")
    return found[0] if found else "train"


def _preprocess(
    raw_file: Path, out_file: Path, work_dir: Path, pair_reference_dir: Path | None = None
) -> Path:
    from ..science.t1_linear import t1_linear

    if out_file.exists():
        return out_file
    cropped, _ = t1_linear(raw_file, work_dir, pair_reference_dir)
    partial = out_file.with_name(f".{out_file.name}.partial.nii.gz")
    nib.save(cropped, partial)
    os.replace(partial, out_file)  # a killed run leaves no half image under the final name
    return out_file


class _PairStepError(Exception):
    """Which image of a pair failed (``args[0]``) and why (``args[1]``), picklable."""


def _preprocess_pair(pair: RealPair, folder: Path) -> None:
    """t1-linear of the pair's T1w-nce, then of its T1w-ce through it."""
    for kind, reference in (("nce", None), ("ce", folder / "work_nce")):
        raw = getattr(pair, kind)
        try:
            _preprocess(
                raw, folder / f"{kind}_t1_linear.nii.gz", folder / f"work_{kind}", reference
            )
        except Exception as error:
            raise _PairStepError(raw, f"{type(error).__name__}: {error}") from error


def prepare_real_pairs(
    bids_dir: Path,
    output_dir: Path,
    splits: Mapping[str, Sequence[str]],
    processes: int = 1,
    participant_labels: Sequence[str] | None = None,
) -> Path:
    """Preprocess every pair of ``bids_dir`` and write ``output_dir/pairs.tsv``.

    Parameters
    ----------
    bids_dir
        BIDS dataset with sessions holding both a ``ce-`` T1w and a non-enhanced T1w.
    output_dir
        Work folder: ``<pair_id>/{ce,nce}_t1_linear.nii.gz`` and ``pairs.tsv``.
    splits
        ``{"validation": [...], "test": [...]}`` participant ids; others are ``train``.
    processes
        Images preprocessed at once (each with one ITK thread when more than one).
    participant_labels
        Only these subjects (labels without ``sub-``); ``None`` takes every pair.

    Returns
    -------
    Path
        The written ``pairs.tsv`` (columns ``pair_id, participant_id, session_id, ce, nce,
        split``; paths relative to it).
    """
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise Ce2nceError(f"unknown split(s) {', '.join(sorted(unknown))}; use {SPLITS}")
    pairs = find_real_pairs(bids_dir, participant_labels)
    if not pairs:
        raise Ce2nceError(f"{bids_dir}: no session holds both a ce- and a non-enhanced T1w")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    # The T1w-nce first: the T1w-ce is registered through it, as the participant graph does.
    jobs = [(pair, output_dir / pair.pair_id) for pair in pairs]
    failed: dict[Path, str] = {}

    def record(pair: RealPair, run) -> None:
        try:
            run()
            LOGGER.info("t1-linear done: %s", pair.pair_id)
        except Exception as error:  # one bad image must not stop the others
            step = isinstance(error, _PairStepError)
            raw = error.args[0] if step else pair.ce
            failed[raw] = error.args[1] if step else f"{type(error).__name__}: {error}"
            LOGGER.error("%s: skipped (%s)", raw, failed[raw])

    if processes <= 1:
        for pair, folder in jobs:
            record(pair, lambda p=pair, f=folder: _preprocess_pair(p, f))
    else:
        # One ITK thread per worker, set before the worker first imports ANTs.
        with ProcessPoolExecutor(max_workers=processes, initializer=_one_itk_thread) as pool:
            futures = [
                (pair, pool.submit(_preprocess_pair, pair, folder)) for pair, folder in jobs
            ]
            for pair, future in futures:
                record(pair, future.result)
    rows = []
    for pair in pairs:
        if pair.ce in failed or pair.nce in failed:
            continue
        rows.append(
            {
                "pair_id": pair.pair_id,
                "participant_id": pair.participant_id,
                "session_id": pair.session_id,
                "ce": f"{pair.pair_id}/ce_t1_linear.nii.gz",
                "nce": f"{pair.pair_id}/nce_t1_linear.nii.gz",
                "split": split_of(pair.participant_id, splits),
            }
        )
    if not rows:
        raise Ce2nceError(f"{bids_dir}: no pair left after preprocessing (see the errors above)")
    return write_pairs_tsv(rows, output_dir / "pairs.tsv")


def write_pairs_tsv(rows: Sequence[Mapping[str, str]], path: Path) -> Path:
    """Write rows of pairs (the first row's keys as columns) atomically as a TSV."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


def _one_itk_thread() -> None:
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = "1"
