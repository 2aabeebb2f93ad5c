"""The homogenised feature table: tissue volumes and TIV per session, gadolinium or not.

Each session's volumes come from its real T1w-nce when it has one (with a volumes table), else
from the synthetic T1w-nce made from its T1w-ce. The table says which image was used.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .collect import (
    TISSUE_NAMES,
    ImageOutputs,
    SessionOutputs,
    read_sidecar,
    read_volumes,
    translation_model,
)

logger = logging.getLogger(__name__)

VOLUME_COLUMNS: tuple[str, ...] = tuple(f"{t}_cm3" for t in (*TISSUE_NAMES, "TIV"))
FEATURE_COLUMNS: tuple[str, ...] = (
    "participant_id",
    "session_id",
    *VOLUME_COLUMNS,
    "source_image",
    "source_kind",
    "synthetic",
    "gadolinium_probability",
    "qc_contrast_mismatch",
    "model_name",
    "model_sha256",
    "model_architecture",
    "model_checkpoint",
    "qc_registration",
    "qc_registration_flagged",
)

#: BIDS-style description of every column of ``features.tsv`` (its JSON sidecar).
FEATURE_SIDECAR: dict[str, dict[str, str]] = {
    "participant_id": {"Description": "Participant, sub-<label>."},
    "session_id": {"Description": "Session, ses-<label> ('n/a' in datasets without sessions)."},
    "GM_cm3": {
        "Description": "Gray matter volume: voxels labelled GM by maximum probability x voxel "
        "volume, from the image named in source_image.",
        "Units": "cm^3",
    },
    "WM_cm3": {"Description": "White matter volume, as GM_cm3.", "Units": "cm^3"},
    "CSF_cm3": {"Description": "Cerebrospinal fluid volume, as GM_cm3.", "Units": "cm^3"},
    "TIV_cm3": {
        "Description": "Total intracranial volume, GM_cm3 + WM_cm3 + CSF_cm3.",
        "Units": "cm^3",
    },
    "source_image": {
        "Description": "The image the volumes were measured on, relative to the derivatives "
        "dataset: the real T1w-nce when the session has one, else the synthetic T1w-nce."
    },
    "source_kind": {
        "Description": "Kind of source_image.",
        "Levels": {
            "nce": "real non-contrast-enhanced T1w",
            "synthetic": "synthetic non-contrast-enhanced T1w translated from a T1w-ce",
        },
    },
    "synthetic": {
        "Description": "Whether source_image is synthetic.",
        "Levels": {"True": "synthetic T1w-nce", "False": "real T1w-nce"},
    },
    "gadolinium_probability": {
        "Description": "Probability of gadolinium the detector gave the t1-linear image the "
        "volumes come from (for a synthetic source, its T1w-ce): GadoliniumProbability of its "
        "sidecar (docs/gadolinium_detector.md); n/a where the image could not be judged."
    },
    "qc_contrast_mismatch": {
        "Description": "Whether the detector's call (probability at least its threshold) "
        "contradicts the image's BIDS contrast label (GadoliniumDetection.ContrastMismatch). "
        "True for a real T1w-nce means its volumes may come from an enhanced image, CSF "
        "under-estimated.",
        "Levels": {"True": "label and detector disagree", "False": "they agree"},
    },
    "model_architecture": {
        "Description": "Translation network of a synthetic source (TranslationModel."
        "Architecture of its sidecar); n/a for a real source."
    },
    "model_name": {
        "Description": "Name of the translation model of a synthetic source (TranslationModel."
        "Model: the shipped model's name, or its checkpoint folder's name); n/a for a real "
        "source."
    },
    "model_checkpoint": {
        "Description": "Checkpoint folder of a translation model that is not the shipped one "
        "(TranslationModel.Checkpoint), relative to the working directory of the run when it "
        "lay under it; n/a for the shipped model and for a real source."
    },
    "model_sha256": {
        "Description": "SHA-256 of the translation model's weights (TranslationModel."
        "WeightsSha256); n/a for a real source. Rows from different models are not homogeneous."
    },
    "qc_registration": {
        "Description": "t1-linear's registration quality of source_image (of its T1w-ce for a "
        "synthetic source): the normalised mutual information of the registered image and the "
        "template inside the template's dilated brain mask and the image's field of view "
        "(RegistrationQuality of its sidecar, docs/t1_linear.md)."
    },
    "qc_registration_flagged": {
        "Description": "Whether that registration is flagged (quality below its threshold, or "
        "a T1w-ce out of register with its T1w-nce): the volumes are most likely wrong; the "
        "validation leaves the session out unless --include-flagged.",
        "Levels": {"True": "flagged", "False": "not flagged"},
    },
}


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def _registered(session: SessionOutputs, image: ImageOutputs) -> ImageOutputs | None:
    """The t1-linear image whose registration ``image`` inherits (a synthetic one: its ce)."""
    if image.kind != "synthetic":
        return image
    return next((ce for ce in session.ce if ce.source == image.source), None)


def _gadolinium(session: SessionOutputs, image: ImageOutputs) -> tuple[object, object]:
    """Probability and contrast mismatch of the t1-linear image behind ``image``'s volumes."""
    t1_linear = _registered(session, image)
    sidecar = read_sidecar(t1_linear.sidecar if t1_linear else None)
    probability = sidecar.get("GadoliniumProbability")
    mismatch = (sidecar.get("GadoliniumDetection") or {}).get("ContrastMismatch")
    return (
        float(probability) if isinstance(probability, int | float) else None,
        mismatch if isinstance(mismatch, bool) else None,
    )


def _row(session: SessionOutputs, image: ImageOutputs, root: Path) -> dict[str, object]:
    from .validation import registration_record

    volumes = read_volumes(image.volumes)
    probability, mismatch = _gadolinium(session, image)
    model = translation_model(image) if image.kind == "synthetic" else {}
    registration = registration_record(_registered(session, image))
    row: dict[str, object] = {
        "participant_id": session.participant_id,
        "session_id": session.session_id,
        **{f"{k}_cm3": v for k, v in volumes.items()},
        "source_image": _relative(image.image, root) if image.image else "n/a",
        "source_kind": image.kind,
        "synthetic": image.kind == "synthetic",
        "gadolinium_probability": probability,
        "qc_contrast_mismatch": mismatch,
        "model_name": model.get("Model"),
        "model_sha256": model.get("WeightsSha256"),
        "model_architecture": model.get("Architecture"),
        "model_checkpoint": model.get("Checkpoint"),
        "qc_registration": registration.get("RegistrationQuality"),
        "qc_registration_flagged": registration.get("RegistrationFlagged"),
    }
    return row


def feature_table(
    sessions: Sequence[SessionOutputs], output_dir: Path
) -> tuple[pd.DataFrame, list[str]]:
    """One row of tissue volumes per session, from the real nce or else the synthetic nce.

    Parameters
    ----------
    sessions : sequence of SessionOutputs
        From :func:`ce2nce_pipeline.group.collect.collect_sessions`.
    output_dir : pathlib.Path
        The derivatives dataset, to write ``source_image`` relative to it.

    Returns
    -------
    table : pandas.DataFrame
        Columns :data:`FEATURE_COLUMNS`.
    problems : list of str
        One line per session skipped or falling back, and one if the synthetic rows come from
        more than one model.
    """
    rows: list[dict[str, object]] = []
    problems: list[str] = []
    root = Path(output_dir)
    for session in sessions:
        name = f"{session.participant_id} {session.session_id}"
        candidates: list[ImageOutputs] = []
        if session.nce is not None:
            if session.nce.volumes is not None:
                candidates.append(session.nce)
            else:
                problems.append(
                    f"{name}: the real T1w-nce has no volumes table (segmentation missing); "
                    "trying its synthetic T1w-nce"
                )
        usable = [s for _, s in sorted(session.synthetic.items()) if s.volumes is not None]
        candidates += usable
        if session.nce is None and len(usable) > 1:
            problems.append(
                f"{name}: {len(usable)} synthetic T1w-nce images, using {usable[0].source}"
            )
        row = None
        for image in candidates:
            try:
                row = _row(session, image, root)
                break
            except (OSError, ValueError) as error:
                problems.append(f"{name}: cannot read {image.volumes}: {error}")
        if row is None:
            problems.append(
                f"{name}: skipped in features.tsv, no volumes table from a real or synthetic "
                "T1w-nce (segmentation or translation missing)"
            )
            continue
        rows.append(row)
    table = pd.DataFrame.from_records(rows, columns=list(FEATURE_COLUMNS))
    models = table.loc[table["synthetic"].astype(bool), "model_sha256"].dropna().unique()
    if len(models) > 1:
        problems.append(
            f"features.tsv mixes {len(models)} translation models (sha256 "
            f"{', '.join(m[:12] for m in models)}): synthetic volumes are not homogeneous"
        )
    return table, problems
