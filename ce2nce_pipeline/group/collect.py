"""Read what the participant level wrote: per session, the images and each one's stage outputs.

This is the one place that knows the participant level's file names (docs/outputs.md). With
``SP = space-MNI152NLin2009cSym`` and ``<src>`` the source image's entities (``sub``, ``ses``,
``acq``, ``ce``, ``rec``, ``run`` in BIDS order), in ``OUTPUT_DIR/sub-X/[ses-Y/]anat/``:

==========================  ====================================================================
stage                       file
==========================  ====================================================================
t1-linear (real image)      ``<src>_SP_res-1x1x1_desc-Crop_T1w.nii.gz`` (+ ``.json``)
synthetic nce (of a ce)     ``<ce src>_SP_res-1x1x1_desc-synthetic_T1w.nii.gz`` (+ ``.json``)
brain mask (real image)     ``<src>_SP_res-1x1x1_desc-brain_mask.nii.gz``
brain mask (synthetic)      ``<ce src>_SP_res-1x1x1_desc-syntheticbrain_mask.nii.gz``
union mask (ce/nce pair)    ``<ce src>_SP_res-1x1x1_desc-union_mask.nii.gz``
tissue maps (real)          ``<src>_SP_res-1x1x1_dseg.nii.gz``, ``…_volumes.tsv``,
                            ``…_label-GM_probseg.nii.gz`` (and WM, CSF)
tissue maps (synthetic)     ``<ce src>_SP_res-1x1x1_desc-synthetic_dseg.nii.gz``,
                            ``…_desc-synthetic_volumes.tsv``, ``…_label-GM_desc-synthetic_probseg``
==========================  ====================================================================

If the participant level changes a name, change :func:`derivative_paths` only.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

SPACE = "space-MNI152NLin2009cSym"
#: Suffix that marks a t1-linear output; every image of a session is found from these.
CROP_SUFFIX = f"_{SPACE}_res-1x1x1_desc-Crop_T1w.nii.gz"
#: Source entities in BIDS order, as they appear in file names.
SOURCE_KEYS: tuple[str, ...] = ("sub", "ses", "acq", "ce", "rec", "run")
TISSUE_NAMES: tuple[str, ...] = ("GM", "WM", "CSF")
#: Value of ``session_id`` for datasets without sessions.
NO_SESSION = "n/a"
_ENTITY = re.compile(r"^([a-zA-Z]+)-([a-zA-Z0-9]+)$")


@dataclass(frozen=True)
class ImageOutputs:
    """One image of a session and the participant level's files about it.

    Attributes
    ----------
    kind : {"nce", "ce", "synthetic"}
        Real non-contrast, real contrast-enhanced, or synthetic nce made from a ce.
    source : str
        The source entities as a file-name stem (``sub-01_ses-M000_ce-gadolinium``); for a
        synthetic image, its ce's stem.
    image, sidecar, mask, dseg, volumes : pathlib.Path or None
        The t1-linear (or synthetic) image, its JSON sidecar, the brain mask (for a synthetic
        image: the union mask of its pair, or its own mask when its session has no real
        T1w-nce to pair with), the tissue label map and the volumes table; ``None`` where the
        file does not exist.
    probsegs : dict of str to pathlib.Path
        Tissue probability maps found, by tissue name.
    """

    kind: str
    source: str
    image: Path | None
    sidecar: Path | None
    mask: Path | None
    dseg: Path | None
    volumes: Path | None
    probsegs: dict[str, Path] = field(default_factory=dict)

    def missing(self, stages: Sequence[str] = ("image", "mask", "dseg", "volumes")) -> list[str]:
        """Names of the given stages whose file is missing."""
        return [stage for stage in stages if getattr(self, stage) is None]


@dataclass(frozen=True)
class SessionOutputs:
    """Every image of one session found in the derivatives.

    Attributes
    ----------
    participant_id, session_id : str
        ``sub-<label>`` and ``ses-<label>`` (``"n/a"`` without sessions).
    folder : pathlib.Path
        The session's ``anat`` folder.
    nce : ImageOutputs or None
        The real T1w-nce (the first in name order if there are several).
    ce : tuple of ImageOutputs
        The real T1w-ce images.
    synthetic : dict of str to ImageOutputs
        Synthetic T1w-nce images by the stem of the ce they were made from.
    union_masks : dict of str to pathlib.Path
        Union brain mask of each ce with the session's nce, by ce stem.
    extra_nce : tuple of str
        Stems of further real nce images, ignored.
    rated_bad : tuple of ImageOutputs
        Images left out because a QC rating calls them bad (:mod:`.ratings`): the statistics
        skip them without reporting them missing.
    """

    participant_id: str
    session_id: str
    folder: Path
    nce: ImageOutputs | None
    ce: tuple[ImageOutputs, ...]
    synthetic: dict[str, ImageOutputs]
    union_masks: dict[str, Path]
    extra_nce: tuple[str, ...] = ()
    rated_bad: tuple[ImageOutputs, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        """``(participant_id, session_id)``."""
        return (self.participant_id, self.session_id)


def parse_source(stem: str) -> dict[str, str]:
    """Split a source stem into its entities (``{"sub": "01", "ce": "gadolinium"}``).

    Raises
    ------
    ValueError
        If a part is not ``key-value`` or a key is not a source entity.
    """
    entities: dict[str, str] = {}
    for part in stem.split("_"):
        match = _ENTITY.match(part)
        if not match or match.group(1) not in SOURCE_KEYS:
            raise ValueError(f"{stem!r} is not a source stem (bad part {part!r})")
        entities[match.group(1)] = match.group(2)
    if "sub" not in entities:
        raise ValueError(f"{stem!r} has no sub- entity")
    return entities


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def derivative_paths(folder: Path, source: str, kind: str, *, paired: bool = True) -> ImageOutputs:
    """The files the participant level writes about one image (see the module docstring).

    Parameters
    ----------
    folder : pathlib.Path
        The session's ``anat`` folder in the derivatives.
    source : str
        Source stem; for ``kind="synthetic"`` the stem of its ce.
    kind : {"nce", "ce", "synthetic"}
        Which image.
    paired : bool
        For a synthetic image: whether its session has a real T1w-nce, so that the pair's
        union mask is its mask. Without one no union mask is made, and its own brain mask is.

    Returns
    -------
    ImageOutputs
        With ``None`` for the files that do not exist.
    """
    if kind not in ("nce", "ce", "synthetic"):
        raise ValueError(f"kind must be 'nce', 'ce' or 'synthetic', got {kind!r}")
    base = f"{source}_{SPACE}"
    if kind == "synthetic":
        image = folder / f"{base}_res-1x1x1_desc-synthetic_T1w.nii.gz"
        mask = (
            folder / f"{base}_res-1x1x1_desc-{'union' if paired else 'syntheticbrain'}_mask.nii.gz"
        )
        dseg = folder / f"{base}_res-1x1x1_desc-synthetic_dseg.nii.gz"
        volumes = folder / f"{base}_res-1x1x1_desc-synthetic_volumes.tsv"
        probseg = {
            t: folder / f"{base}_res-1x1x1_label-{t}_desc-synthetic_probseg.nii.gz"
            for t in TISSUE_NAMES
        }
    else:
        image = folder / f"{base}_res-1x1x1_desc-Crop_T1w.nii.gz"
        mask = folder / f"{base}_res-1x1x1_desc-brain_mask.nii.gz"
        dseg = folder / f"{base}_res-1x1x1_dseg.nii.gz"
        volumes = folder / f"{base}_res-1x1x1_volumes.tsv"
        probseg = {t: folder / f"{base}_res-1x1x1_label-{t}_probseg.nii.gz" for t in TISSUE_NAMES}
    sidecar = image.with_name(image.name[: -len(".nii.gz")] + ".json")
    return ImageOutputs(
        kind=kind,
        source=source,
        image=_existing(image),
        sidecar=_existing(sidecar),
        mask=_existing(mask),
        dseg=_existing(dseg),
        volumes=_existing(volumes),
        probsegs={t: p for t, p in probseg.items() if p.is_file()},
    )


def union_mask_path(folder: Path, ce_source: str) -> Path | None:
    """The union mask of a ce/nce pair, written next to the ce, if it exists."""
    return _existing(folder / f"{ce_source}_{SPACE}_res-1x1x1_desc-union_mask.nii.gz")


def _anat_folders(output_dir: Path) -> list[Path]:
    folders = [p for p in output_dir.glob("sub-*/anat") if p.is_dir()]
    folders += [p for p in output_dir.glob("sub-*/ses-*/anat") if p.is_dir()]
    return sorted(folders)


def _selected(entities: dict[str, str], participants: set[str], sessions: set[str]) -> bool:
    if participants and entities["sub"] not in participants:
        return False
    return not sessions or entities.get("ses") in sessions


def collect_sessions(
    output_dir: Path,
    *,
    participant_labels: Sequence[str] = (),
    session_labels: Sequence[str] = (),
) -> tuple[list[SessionOutputs], list[str]]:
    """Find every session's images and stage outputs in a ce2nce derivatives dataset.

    Sessions are found from t1-linear outputs (``…_res-1x1x1_desc-Crop_T1w.nii.gz``), and also
    from synthetic images whose ce has no t1-linear output left.

    Parameters
    ----------
    output_dir : pathlib.Path
        The participant level's ``OUTPUT_DIR``.
    participant_labels, session_labels : sequence of str
        Keep only these labels (without ``sub-``/``ses-``); all when empty.

    Returns
    -------
    sessions : list of SessionOutputs
        Sorted by participant and session.
    problems : list of str
        One line per file name that could not be read.
    """
    participants, wanted_sessions = set(participant_labels), set(session_labels)
    problems: list[str] = []
    sessions: list[SessionOutputs] = []
    synthetic_suffix = f"_{SPACE}_res-1x1x1_desc-synthetic_T1w.nii.gz"
    for folder in _anat_folders(Path(output_dir)):
        sources: dict[str, dict[str, str]] = {}
        synthetic_sources: list[str] = []
        for path in sorted(folder.iterdir()):
            for suffix, is_synthetic in ((CROP_SUFFIX, False), (synthetic_suffix, True)):
                if not path.name.endswith(suffix):
                    continue
                stem = path.name[: -len(suffix)]
                try:
                    entities = parse_source(stem)
                except ValueError as error:
                    problems.append(f"{path}: skipped, cannot read its name ({error})")
                    continue
                if not _selected(entities, participants, wanted_sessions):
                    continue
                sources[stem] = entities
                if is_synthetic:
                    synthetic_sources.append(stem)
        if not sources:
            continue
        first = next(iter(sources.values()))
        nce_stems = sorted(s for s, e in sources.items() if "ce" not in e)
        ce_stems = sorted(s for s, e in sources.items() if "ce" in e)
        nce = derivative_paths(folder, nce_stems[0], "nce") if nce_stems else None
        if len(nce_stems) > 1:
            problems.append(
                f"{folder}: {len(nce_stems)} real T1w-nce images, using {nce_stems[0]} and "
                f"ignoring {', '.join(nce_stems[1:])}"
            )
        synthetic = {
            s: derivative_paths(folder, s, "synthetic", paired=bool(nce_stems))
            for s in synthetic_sources
        }
        unions = {s: p for s in ce_stems if (p := union_mask_path(folder, s)) is not None}
        sessions.append(
            SessionOutputs(
                participant_id=f"sub-{first['sub']}",
                session_id=f"ses-{first['ses']}" if "ses" in first else NO_SESSION,
                folder=folder,
                nce=nce,
                ce=tuple(derivative_paths(folder, s, "ce") for s in ce_stems),
                synthetic=synthetic,
                union_masks=unions,
                extra_nce=tuple(nce_stems[1:]),
            )
        )
    return sessions, problems


def read_volumes(path: Path) -> dict[str, float]:
    """Read a one-row ``volumes.tsv`` (``GM_cm3 WM_cm3 CSF_cm3 TIV_cm3``).

    Returns
    -------
    dict of str to float
        Keys ``GM``, ``WM``, ``CSF``, ``TIV`` in cm³.

    Raises
    ------
    ValueError
        If a column is missing, the file has not exactly one row, or a value is not a number.
    """
    with open(path, newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream, delimiter="\t"))
    if len(rows) != 1:
        raise ValueError(f"{path}: expected one row of volumes, found {len(rows)}")
    volumes = {}
    for name in (*TISSUE_NAMES, "TIV"):
        column = f"{name}_cm3"
        if column not in rows[0]:
            raise ValueError(f"{path}: no column {column!r}")
        try:
            volumes[name] = float(rows[0][column])
        except (TypeError, ValueError):
            raise ValueError(f"{path}: {column} = {rows[0][column]!r} is not a number") from None
    return volumes


def read_sidecar(path: Path | None) -> dict:
    """A JSON sidecar as a dictionary; ``{}`` when ``path`` is ``None`` or unreadable."""
    if path is None:
        return {}
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        logger.warning("cannot read %s: %s", path, error)
        return {}
    return content if isinstance(content, dict) else {}


def translation_model(image: ImageOutputs | None) -> dict[str, str]:
    """``TranslationModel`` of a synthetic image's sidecar (``{}`` if absent)."""
    if image is None:
        return {}
    model = read_sidecar(image.sidecar).get("TranslationModel", {})
    return {k: str(v) for k, v in model.items()} if isinstance(model, dict) else {}


def _read_tsv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream, delimiter="\t"))


def _input_sidecar(bids_dir: Path, image: ImageOutputs) -> dict:
    """The input image's sidecar, found from the derivative's ``Sources`` when possible."""
    for source in read_sidecar(image.sidecar).get("Sources", []):
        if isinstance(source, str) and source.startswith("bids:raw:"):
            relative = source[len("bids:raw:") :]
            for extension in (".nii.gz", ".nii"):
                if relative.endswith(extension):
                    return read_sidecar(
                        _existing(bids_dir / (relative[: -len(extension)] + ".json"))
                    )
    entities = parse_source(image.source)
    folder = bids_dir / f"sub-{entities['sub']}"
    if "ses" in entities:
        folder = folder / f"ses-{entities['ses']}"
    return read_sidecar(_existing(folder / "anat" / f"{image.source}_T1w.json"))


def session_covariate(
    bids_dir: Path, sessions: Sequence[SessionOutputs], column: str
) -> tuple[dict[tuple[str, str], str], str | None]:
    """A grouping value per session, from the input dataset.

    Looked up, in order, in ``sub-X/sub-X_sessions.tsv``, ``participants.tsv`` and the JSON
    sidecars of the session's input T1w images (the ce images first, then the nce).

    Parameters
    ----------
    bids_dir : pathlib.Path
        The input BIDS dataset.
    sessions : sequence of SessionOutputs
        The sessions.
    column : str
        The column (or sidecar key) to read, e.g. ``"quality"``.

    Returns
    -------
    values : dict of (participant_id, session_id) to str
        Sessions without a value are left out.
    where : str or None
        Where the column was found first (``"sessions.tsv"``, ``"participants.tsv"``,
        ``"sidecar"``), ``None`` if nowhere.
    """
    bids_dir = Path(bids_dir)
    participants = {
        row.get("participant_id", ""): row for row in _read_tsv(bids_dir / "participants.tsv")
    }
    values: dict[tuple[str, str], str] = {}
    found: list[str] = []
    for session in sessions:
        sub = session.participant_id
        rows = _read_tsv(bids_dir / sub / f"{sub}_sessions.tsv")
        by_session = {row.get("session_id", ""): row for row in rows}
        candidates = [
            ("sessions.tsv", by_session.get(session.session_id, {}).get(column)),
            ("participants.tsv", participants.get(sub, {}).get(column)),
        ]
        for image in (*session.ce, session.nce):
            if image is not None:
                candidates.append(("sidecar", _input_sidecar(bids_dir, image).get(column)))
        for where, value in candidates:
            if value is not None and str(value).strip() not in ("", "n/a"):
                values[session.key] = str(value).strip()
                found.append(where)
                break
    return values, (found[0] if found else None)
