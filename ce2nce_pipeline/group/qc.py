"""QC flags of every synthetic T1w-nce of a derivatives dataset (docs/qc.md).

Reads the participant level's files (through :mod:`.collect`) and applies the pure functions of
:mod:`ce2nce_pipeline.science.qc`. Each flag is a number, a threshold and a yes/no; a flag that
cannot be computed (a file missing, too few images for z-scores) is ``nan`` and says why.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from ..science.qc import (
    FLIP_UNCERTAINTY_THRESHOLD,
    UNEXPECTED_REMOVAL_THRESHOLD,
    VOLUME_Z_THRESHOLD,
    flip_uncertainty,
    parenchyma_mask,
    robust_zscores,
    tissue_fractions,
    unexpected_removal_fraction,
)
from .collect import SPACE, ImageOutputs, SessionOutputs, read_volumes

logger = logging.getLogger(__name__)

#: Columns added to ``features.tsv`` (and shown in the reports), in order.
QC_COLUMNS: tuple[str, ...] = (
    "qc_image",
    "qc_unexpected_removal",
    "qc_volume_max_abs_z",
    "qc_flip_uncertainty_percent",
    "qc_flags",
)
#: Each flag: its column, threshold and what it means when raised.
FLAG_RULES: dict[str, tuple[str, float, str]] = {
    "unexpected_removal": (
        "qc_unexpected_removal",
        UNEXPECTED_REMOVAL_THRESHOLD,
        "enhancement removed inside the brain parenchyma (an enhancing lesion erased, or "
        "tissue altered by the network)",
    ),
    "volume_outlier": (
        "qc_volume_max_abs_z",
        VOLUME_Z_THRESHOLD,
        "a tissue volume (GM, WM, CSF fraction of TIV, or TIV) far from the group's",
    ),
    "flip_uncertain": (
        "qc_flip_uncertainty_percent",
        FLIP_UNCERTAINTY_THRESHOLD,
        "the network's output changes when the image is mirrored: an input unlike its training",
    ),
}


@dataclass
class SyntheticQC:
    """The QC flags of one synthetic image."""

    participant_id: str
    session_id: str
    source: str
    image: Path | None
    values: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def raised(self) -> list[str]:
        """Names of the flags whose value is above its threshold."""
        return [
            name
            for name, (column, threshold, _) in FLAG_RULES.items()
            if math.isfinite(self.values.get(column, math.nan)) and self.values[column] > threshold
        ]

    def row(self, root: Path) -> dict[str, object]:
        """The ``qc_*`` columns of this image (``n/a`` values as ``None``)."""
        row: dict[str, object] = {
            "qc_image": _relative(self.image, root) if self.image else None,
        }
        for column in QC_COLUMNS[1:-1]:
            value = self.values.get(column, math.nan)
            row[column] = round(value, 4) if math.isfinite(value) else None
        row["qc_flags"] = ",".join(self.raised) or "none"
        return row


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def flip_sd_path(folder: Path, ce_source: str) -> Path | None:
    """The flip-uncertainty map the participant level writes next to a synthetic image."""
    path = folder / f"{ce_source}_{SPACE}_res-1x1x1_desc-flipsd_T1w.nii.gz"
    return path if path.is_file() else None


def _load(path: Path) -> np.ndarray:
    return np.asanyarray(nib.load(path).dataobj, dtype=np.float32)


def _ce_of(session: SessionOutputs, source: str) -> ImageOutputs | None:
    return next((image for image in session.ce if image.source == source), None)


def _removal(qc: SyntheticQC, ce: ImageOutputs | None, synthetic: ImageOutputs) -> None:
    if ce is None or ce.image is None or synthetic.image is None:
        qc.notes.append("unexpected removal: the T1w-ce or the synthetic image is missing")
        return
    mask = ce.mask or synthetic.mask
    if mask is None:
        qc.notes.append("unexpected removal: no brain mask of the T1w-ce")
        return
    labels = _load(ce.dseg) if ce.dseg is not None else None
    prior = None
    if labels is None:
        from ..science.templates import tissue_priors

        gm, wm, _ = tissue_priors()
        prior = gm + wm
        qc.notes.append("unexpected removal: no tissue map of the T1w-ce, template priors used")
    parenchyma = parenchyma_mask(_load(mask), labels, prior)
    value = unexpected_removal_fraction(_load(ce.image), _load(synthetic.image), parenchyma)
    qc.values["qc_unexpected_removal"] = value


def _uncertainty(qc: SyntheticQC, session: SessionOutputs, synthetic: ImageOutputs) -> None:
    sd_path = flip_sd_path(session.folder, synthetic.source)
    mask = synthetic.mask or (ce.mask if (ce := _ce_of(session, synthetic.source)) else None)
    if sd_path is None or synthetic.image is None or mask is None:
        qc.notes.append("flip uncertainty: no flip sd map (translated without it) or no mask")
        return
    value = flip_uncertainty(_load(sd_path), _load(synthetic.image), _load(mask))
    qc.values["qc_flip_uncertainty_percent"] = value


def group_volumes(sessions: Sequence[SessionOutputs]) -> np.ndarray:
    """GM, WM, CSF, TIV (cm³) of every image with a volumes table: the group of the z-scores."""
    rows = []
    for session in sessions:
        images = [session.nce, *session.ce, *session.synthetic.values()]
        for image in images:
            if image is None or image.volumes is None:
                continue
            try:
                volumes = read_volumes(image.volumes)
            except (OSError, ValueError):
                continue
            rows.append([volumes[k] for k in ("GM", "WM", "CSF", "TIV")])
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def _volume_z(qc: SyntheticQC, synthetic: ImageOutputs, group: np.ndarray) -> None:
    if synthetic.volumes is None:
        qc.notes.append("volume z-scores: no volumes table of the synthetic image")
        return
    volumes = read_volumes(synthetic.volumes)
    row = tissue_fractions([[volumes[k] for k in ("GM", "WM", "CSF", "TIV")]])
    scores = robust_zscores(row, tissue_fractions(group) if len(group) else None)
    if not np.isfinite(scores).any():
        qc.notes.append("volume z-scores: fewer than 5 images with volumes in the group")
        return
    qc.values["qc_volume_max_abs_z"] = float(np.nanmax(np.abs(scores)))
    names = ("GM_fraction", "WM_fraction", "CSF_fraction", "TIV")
    for name, score in zip(names, scores[0], strict=True):
        qc.values[f"z_{name}"] = float(score)


def synthetic_qc(
    session: SessionOutputs, synthetic: ImageOutputs, group: np.ndarray
) -> SyntheticQC:
    """Every QC flag of one synthetic image; a flag that fails says why in ``notes``."""
    qc = SyntheticQC(
        participant_id=session.participant_id,
        session_id=session.session_id,
        source=synthetic.source,
        image=synthetic.image,
    )
    steps = (
        lambda: _removal(qc, _ce_of(session, synthetic.source), synthetic),
        lambda: _volume_z(qc, synthetic, group),
        lambda: _uncertainty(qc, session, synthetic),
    )
    for step in steps:
        try:
            step()
        except (OSError, ValueError, EOFError) as error:
            qc.notes.append(f"could not be computed: {error}")
    return qc


def all_synthetic_qc(
    sessions: Sequence[SessionOutputs], group: Sequence[SessionOutputs] | None = None
) -> list[SyntheticQC]:
    """The QC flags of every synthetic image of ``sessions``, in session and name order.

    The volume z-scores are against the images of ``group`` (default: ``sessions``), e.g. the
    whole dataset when a few participants are reported.
    """
    group = group_volumes(sessions if group is None else group)
    return [
        synthetic_qc(session, image, group)
        for session in sessions
        for _, image in sorted(session.synthetic.items())
    ]


#: Descriptions of the ``qc_*`` columns of ``features.tsv`` (added to its JSON sidecar).
QC_SIDECAR: dict[str, dict[str, object]] = {
    "qc_image": {
        "Description": "The synthetic T1w-nce the qc_* columns describe: the row's source "
        "image when it is synthetic, else the session's first synthetic image; n/a without one."
    },
    "qc_unexpected_removal": {
        "Description": "Fraction of the enhancement removed by the translation (T1w-ce minus "
        "synthetic, above 5% of the T1w-ce's 99th percentile) that lies in the brain "
        "parenchyma (GM or WM more than 3 mm inside the brain mask), where gadolinium is not "
        f"expected. Flag above {UNEXPECTED_REMOVAL_THRESHOLD}.",
    },
    "qc_volume_max_abs_z": {
        "Description": "Largest absolute robust z-score (median, 1.4826 MAD) of the synthetic "
        "image's GM, WM and CSF fractions of TIV and of its TIV against every image of the "
        f"dataset with volumes (at least 5). Flag above {VOLUME_Z_THRESHOLD}.",
    },
    "qc_flip_uncertainty_percent": {
        "Description": "Mean voxel-wise sd of the network's outputs on the T1w-ce and on its "
        "left-right mirror, within the brain mask, in percent of the synthetic image's median "
        f"brain intensity. Flag above {FLIP_UNCERTAINTY_THRESHOLD}.",
        "Units": "percent",
    },
    "qc_flags": {
        "Description": "Comma-separated flags raised: "
        + "; ".join(f"{name}: {meaning}" for name, (_, _, meaning) in FLAG_RULES.items())
        + "; 'none' when no flag is raised.",
    },
}


def add_qc_columns(features, qcs: Sequence[SyntheticQC], root: Path):
    """``features`` (one row per session) with the ``qc_*`` columns of a synthetic image.

    The row's source image when it is synthetic, else the session's first synthetic image.
    """
    table = features.copy()
    by_session: dict[tuple[str, str], list[SyntheticQC]] = {}
    for qc in qcs:
        by_session.setdefault((qc.participant_id, qc.session_id), []).append(qc)
    rows = []
    for _, feature in table.iterrows():
        candidates = by_session.get((feature["participant_id"], feature["session_id"]), [])
        chosen = next(
            (qc for qc in candidates if qc.image and _relative(qc.image, root)
             == feature["source_image"]),
            candidates[0] if candidates else None,
        )  # fmt: skip
        rows.append(chosen.row(root) if chosen else dict.fromkeys(QC_COLUMNS))
    for column in QC_COLUMNS:
        table[column] = [row[column] for row in rows]
    return table
