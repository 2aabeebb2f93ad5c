"""Write simulated T1w-nce / T1w-ce pairs as a BIDS raw dataset.

Layout::

    dataset_description.json  README  participants.tsv  participants.json
    sub-X/[ses-Y/]anat/sub-X[_ses-Y]_T1w.nii.gz (+ .json)
    sub-X/[ses-Y/]anat/sub-X[_ses-Y]_ce-gadolinium_T1w.nii.gz (+ .json)

Every file is written to a temporary name beside its target and moved into place with
``os.replace``, so a crash never leaves a half-written file under a BIDS name. The output passes
``bids-validator-deno`` without errors.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from .. import __version__
from ..io import atomic_write_bytes, publish

BIDS_VERSION = "1.10.0"
CE_LABEL = "gadolinium"
_LABEL = re.compile(r"^[A-Za-z0-9]+$")


@dataclass(frozen=True, eq=False)
class SimulatedSession:
    """The images of one subject's session.

    Attributes
    ----------
    subject, session
        BIDS labels without prefix (alphanumeric); ``session`` None for no session level.
    nce, ce
        The non-contrast and contrast-enhanced images; either may be None (ce-only sessions).
    nce_sidecar, ce_sidecar
        Extra JSON fields of each image's sidecar (e.g. every simulation parameter).
    participant
        Columns of this subject's row of ``participants.tsv``.
    """

    subject: str
    session: str | None
    nce: nib.Nifti1Image | None = None
    ce: nib.Nifti1Image | None = None
    nce_sidecar: dict[str, object] = field(default_factory=dict)
    ce_sidecar: dict[str, object] = field(default_factory=dict)
    participant: dict[str, object] = field(default_factory=dict)


def _check_label(label: str, kind: str) -> None:
    if not _LABEL.match(label):
        raise ValueError(f"{kind} label {label!r} must be alphanumeric (BIDS)")


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(text.encode("utf-8"), path)


def _atomic_write_json(path: Path, content: dict[str, object]) -> None:
    _atomic_write_text(path, json.dumps(content, indent=2, sort_keys=False) + "\n")


def atomic_save_nifti(path: Path, image: nib.Nifti1Image) -> None:
    # nibabel picks the format from the suffix: keep ".nii.gz" at the end of the temp name.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.nii.gz", dir=path.parent)
    os.close(fd)
    if image.header.get_xyzt_units()[0] == "unknown":
        # The base images' headers leave units unset; readers (ITK) then warn on every load.
        image = nib.Nifti1Image(np.asanyarray(image.dataobj), image.affine, image.header.copy())
        image.header.set_xyzt_units("mm", "sec")
    try:
        nib.save(image, tmp)
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _stem(subject: str, session: str | None) -> str:
    return f"sub-{subject}" + (f"_ses-{session}" if session else "")


def _description(name: str) -> dict[str, object]:
    return {
        "Name": name,
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "raw",
        "License": "CC0",
        "Authors": ["ce2nce simulator"],
        "GeneratedBy": [
            {
                "Name": "ce2nce",
                "Version": __version__,
                "Description": "simulated gadolinium enhancement of real non-contrast T1w "
                "images (ce2nce simulate)",
            }
        ],
        "HowToAcknowledge": "Cite Bottani et al., BMC Medical Imaging 24, 67 (2024) and the "
        "base images' sources (see README).",
    }


_README = """# {name}

Simulated dataset written by `ce2nce simulate` (ce2nce {version}).

Each session holds a real non-contrast T1w image (`*_T1w.nii.gz`), augmented (elastic
deformation, intensity and bias changes), and/or a simulated gadolinium-enhanced T1w image of
the same anatomy (`*_ce-gadolinium_T1w.nii.gz`). None of these images was acquired after an
injection of contrast agent: the enhancement is simulated (venous sinuses, veins, arteries,
choroid plexus, dura, pituitary, extracranial tissue, optional lesions, acquisition
differences). Each ce image's sidecar records every simulation parameter and the seed.

Base images: Colin27 (Holmes et al., J Comput Assist Tomogr 1998, Debian package mricron-data)
and the ICBM 2009a nonlinear symmetric template (Fonov et al., NeuroImage 2011, shipped with
nilearn).

Method: ce2nce's docs/simulation.md. Translation method: Bottani et al., "Contrast-enhanced to
non-contrast-enhanced image translation to exploit a clinical data warehouse of T1-weighted
brain MRI", BMC Medical Imaging 24, 67 (2024), doi:10.1186/s12880-024-01242-3.
"""

_BASE_NCE_SIDECAR = {"Modality": "MR", "Description": "real non-contrast T1w image, augmented"}
_BASE_CE_SIDECAR = {
    "Modality": "MR",
    "ContrastBolusIngredient": "GADOLINIUM",
    "Description": "SIMULATED gadolinium-enhanced T1w image (no contrast agent was injected)",
}


def _tsv_value(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text.replace("\t", " ").replace("\n", " ") or "n/a"


def write_bids_dataset(
    root: str | Path,
    sessions: Sequence[SimulatedSession],
    *,
    name: str = "ce2nce simulated T1w-ce / T1w-nce pairs",
    overwrite: bool = False,
    column_descriptions: dict[str, str] | None = None,
) -> list[Path]:
    """Write ``sessions`` as a BIDS dataset under ``root``.

    Parameters
    ----------
    root
        Dataset folder; created if needed. Must be empty unless ``overwrite``.
    sessions
        One entry per subject and session; a subject's participant columns are merged over its
        sessions.
    name
        ``Name`` of ``dataset_description.json``.
    overwrite
        Allow writing into a non-empty folder (files of the same names are replaced).
    column_descriptions
        Descriptions of the ``participants.tsv`` columns for ``participants.json``.

    Returns
    -------
    list of Path
        The image files written.

    Raises
    ------
    ValueError
        Bad labels, duplicate sessions, a session without any image, or mixed use of sessions.
    FileExistsError
        If ``root`` is not empty and ``overwrite`` is False.
    """
    root = Path(root)
    if root.exists() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(f"{root} is not empty: choose an empty folder or pass overwrite")
    seen: set[tuple[str, str | None]] = set()
    with_session = {s.session is not None for s in sessions}
    if len(with_session) > 1:
        raise ValueError("either every session has a session label or none has")
    for s in sessions:
        _check_label(s.subject, "participant")
        if s.session is not None:
            _check_label(s.session, "session")
        if (s.subject, s.session) in seen:
            raise ValueError(f"sub-{s.subject} ses-{s.session} appears twice")
        seen.add((s.subject, s.session))
        if s.nce is None and s.ce is None:
            raise ValueError(f"sub-{s.subject} ses-{s.session} has no image")
    root.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    participants: dict[str, dict[str, object]] = {}
    for s in sessions:
        anat = root / f"sub-{s.subject}"
        if s.session is not None:
            anat = anat / f"ses-{s.session}"
        anat = anat / "anat"
        anat.mkdir(parents=True, exist_ok=True)
        stem = _stem(s.subject, s.session)
        for image, suffix, base, extra in (
            (s.nce, "T1w", _BASE_NCE_SIDECAR, s.nce_sidecar),
            (s.ce, f"ce-{CE_LABEL}_T1w", _BASE_CE_SIDECAR, s.ce_sidecar),
        ):
            if image is None:
                continue
            target = anat / f"{stem}_{suffix}.nii.gz"
            atomic_save_nifti(target, image)
            _atomic_write_json(anat / f"{stem}_{suffix}.json", {**base, **extra})
            written.append(target)
        participants.setdefault(s.subject, {}).update(s.participant)

    columns: list[str] = []
    for row in participants.values():
        columns += [c for c in row if c not in columns and c != "participant_id"]
    lines = ["\t".join(["participant_id", *columns])]
    for subject in sorted(participants):
        row = participants[subject]
        lines.append("\t".join([f"sub-{subject}", *(_tsv_value(row.get(c)) for c in columns)]))
    _atomic_write_text(root / "participants.tsv", "\n".join(lines) + "\n")
    descriptions = {"participant_id": {"Description": "participant label"}}
    for column in columns:
        text = (column_descriptions or {}).get(column, column.replace("_", " "))
        descriptions[column] = {"Description": text}
    _atomic_write_json(root / "participants.json", descriptions)
    _atomic_write_json(root / "dataset_description.json", _description(name))
    _atomic_write_text(root / "README", _README.format(name=name, version=__version__))
    return written
