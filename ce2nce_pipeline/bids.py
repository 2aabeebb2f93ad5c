"""BIDS queries that know the ``ce`` entity: T1w discovery, ce/nce pairing, label checks.

Clinica's own query (``sub-*_ses-*_t1w.nii*``) matches a contrast-enhanced and a non-enhanced
T1w of one session alike and then rejects the session. Here a session may hold both: every T1w
image is kept, classified as contrast-enhanced (``ce-<label>`` entity, or, when the entity is
missing, a ``ContrastBolusIngredient`` in its sidecar) or not, and the two kinds are paired.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InvalidInputError

LOGGER = logging.getLogger(__name__)

_LABEL = re.compile(r"^[A-Za-z0-9]+$")
#: Entities that name an image, in BIDS order (pybids calls ``ce`` "ceagent").
NAME_ENTITIES: tuple[str, ...] = (
    "subject",
    "session",
    "acquisition",
    "ceagent",
    "reconstruction",
    "run",
)
BIDS_KEYS: dict[str, str] = {
    "subject": "sub",
    "session": "ses",
    "acquisition": "acq",
    "ceagent": "ce",
    "reconstruction": "rec",
    "run": "run",
}


@dataclass(frozen=True)
class T1wImage:
    """One T1w image of the input dataset.

    Attributes
    ----------
    path
        Absolute path of the NIfTI file.
    relative_path
        Its path relative to the dataset root (``sub-X/[ses-Y/]anat/...``), POSIX separators.
    entities
        Naming entities (pybids names: subject, session, acquisition, ceagent, reconstruction,
        run) as strings; absent entities are missing from the mapping.
    contrast_agent
        Label of the contrast agent when the image is contrast-enhanced, else ``None``.
    contrast_from_sidecar
        True when the agent comes from ``ContrastBolusIngredient`` rather than the file name.
    contrast_detected
        True when no metadata said so but the gadolinium detector did (``--contrast-from
        both``); the agent is then ``detected``.
    """

    path: Path
    relative_path: str
    entities: dict[str, str] = field(hash=False)
    contrast_agent: str | None = None
    contrast_from_sidecar: bool = False
    contrast_detected: bool = False

    @property
    def is_contrast_enhanced(self) -> bool:
        return self.contrast_agent is not None

    @property
    def subject(self) -> str:
        return self.entities["subject"]

    @property
    def session(self) -> str | None:
        return self.entities.get("session")

    @property
    def output_entities(self) -> dict[str, str]:
        """Entities for derivative names: the source's, plus ``ce`` when found in the sidecar."""
        entities = dict(self.entities)
        if self.contrast_agent is not None:
            entities["ceagent"] = self.contrast_agent
        return entities

    @property
    def image_id(self) -> str:
        """``sub-X[_ses-Y][_acq-A][_ce-C][_rec-R][_run-N]``: the name stem of its derivatives."""
        return entities_to_stem(self.output_entities)


@dataclass(frozen=True)
class CeNcePair:
    """A contrast-enhanced T1w and the non-enhanced T1w of the same session."""

    ce: T1wImage
    nce: T1wImage


def entities_to_stem(entities: dict[str, str]) -> str:
    """Join naming entities in BIDS order (``subject=01, ceagent=gd`` -> ``sub-01_ce-gd``)."""
    return "_".join(
        f"{BIDS_KEYS[name]}-{entities[name]}" for name in NAME_ENTITIES if name in entities
    )


def validate_label(label: str, kind: str = "participant") -> str:
    """Strip an optional ``sub-``/``ses-`` prefix and check the label is alphanumeric.

    Raises
    ------
    InvalidInputError
        For empty labels or labels with path characters, spaces, ``_`` or ``-``.
    """
    prefix = {"participant": "sub-", "session": "ses-"}[kind]
    value = label[len(prefix) :] if label.startswith(prefix) else label
    if not _LABEL.match(value):
        raise InvalidInputError(
            f"invalid {kind} label {label!r}: BIDS labels are letters and digits only "
            f"(e.g. {prefix}01 or 01)"
        )
    return value


#: Queries of a ``--bids-filter-file`` (fMRIPrep's format) and the images each one selects.
FILTER_QUERIES: dict[str, str] = {
    "t1w": "non-contrast T1w",
    "t1w_ce": "contrast-enhanced T1w",
}
#: Entities a filter may name (pybids names), besides the fixed ``datatype`` and ``suffix``.
FILTER_ENTITIES: tuple[str, ...] = NAME_ENTITIES
#: The value of each fixed entity for every image ce2nce reads.
_FIXED_ENTITIES: dict[str, str] = {"datatype": "anat", "suffix": "T1w"}
#: A filter value that matches any value of a present entity (``null``: entity absent).
ANY_VALUE = "*"

BidsFilters = dict[str, dict[str, object]]


def _check_filter_value(value: object) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_check_filter_value(item) for item in value)
    return value is None or (isinstance(value, (str, int)) and not isinstance(value, bool))


def check_bids_filters(filters: object, source: str) -> BidsFilters:
    """Check the content of a BIDS filter file (a query name -> pybids entities -> values).

    Values are a label, ``null`` (the entity must be absent), ``"*"`` (any value, present), or
    a list of those (any of them). ``source`` names the file in the messages.

    Raises
    ------
    InvalidInputError
        On an unknown query or entity, or a value of another kind (one line naming ``source``).
    """
    if not isinstance(filters, dict):
        raise InvalidInputError(
            f"{source}: a BIDS filter file is a JSON object of queries, e.g. "
            '{"t1w": {"acquisition": "mprage"}}'
        )
    known = sorted([*FILTER_ENTITIES, *_FIXED_ENTITIES])
    checked: BidsFilters = {}
    for query, entities in filters.items():
        if query not in FILTER_QUERIES:
            raise InvalidInputError(
                f"{source}: unknown query {query!r}; ce2nce reads "
                + ", ".join(f"{name!r} ({what})" for name, what in FILTER_QUERIES.items())
            )
        if not isinstance(entities, dict):
            raise InvalidInputError(
                f"{source}: query {query!r} must map entities to values, e.g. "
                '{"acquisition": "mprage"}'
            )
        for entity, value in entities.items():
            if entity not in known:
                hint = " (the ce- entity is 'ceagent')" if entity == "ce" else ""
                raise InvalidInputError(
                    f"{source}: query {query!r} names unknown entity {entity!r}{hint}; "
                    f"known: {', '.join(known)}"
                )
            if not _check_filter_value(value):
                raise InvalidInputError(
                    f"{source}: query {query!r}, entity {entity!r}: {json.dumps(value)} is not "
                    'a label, null, "*" or a list of those'
                )
        checked[query] = dict(entities)
    return checked


def load_bids_filters(path: Path) -> BidsFilters:
    """Read and check a ``--bids-filter-file`` (see :func:`check_bids_filters`).

    Raises
    ------
    InvalidInputError
        When the file cannot be read, is not JSON or is not a valid filter (one line).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise InvalidInputError(
            f"--bids-filter-file {path}: cannot read it ({reason}); give a JSON file"
        ) from None
    try:
        filters = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInputError(
            f"--bids-filter-file {path}: not valid JSON (line {error.lineno}, column "
            f"{error.colno}: {error.msg}); fix the file"
        ) from None
    return check_bids_filters(filters, f"--bids-filter-file {path}")


def _value_matches(wanted: object, value: str | None, entity: str) -> bool:
    if isinstance(wanted, list):
        return any(_value_matches(item, value, entity) for item in wanted)
    if wanted is None:
        return value is None
    if value is None:
        return False
    if wanted == ANY_VALUE:
        return True
    if entity == "run" and str(wanted).isdigit() and value.isdigit():
        return int(wanted) == int(value)
    return str(wanted) == value


def filter_query(image: T1wImage) -> str:
    """The filter query that applies to an image: ``t1w_ce`` or ``t1w``."""
    return "t1w_ce" if image.is_contrast_enhanced else "t1w"


def matches_filter(image: T1wImage, entities: Mapping[str, object]) -> bool:
    """Whether an image has the entities a filter query asks for.

    The ce- entity is matched against the contrast agent found in the name or the sidecar.
    """
    values = {**image.output_entities, **_FIXED_ENTITIES}
    return all(
        _value_matches(wanted, values.get(entity), entity) for entity, wanted in entities.items()
    )


def apply_bids_filters(
    images: Sequence[T1wImage], filters: Mapping[str, Mapping[str, object]], source: str
) -> list[T1wImage]:
    """The images a filter keeps: each query selects among the images of its kind.

    Raises
    ------
    InvalidInputError
        When a query keeps none of the images of its kind (one line naming the query).
    """
    kept = [
        image for image in images if matches_filter(image, filters.get(filter_query(image), {}))
    ]
    for query, entities in filters.items():
        candidates = [image for image in images if filter_query(image) == query]
        if not any(filter_query(image) == query for image in kept):
            raise InvalidInputError(
                f"{source}: query {query!r} {json.dumps(entities)} selects none of the "
                f"{len(candidates)} {FILTER_QUERIES[query]} image(s) found; loosen or remove it"
            )
    return kept


def _contrast_label_from_ingredient(ingredient: object) -> str | None:
    text = re.sub(r"[^A-Za-z0-9]", "", str(ingredient or "")).lower()
    return text or None


def _layout_root(bids_dir: Path, scratch: Path) -> Path:
    """A path to the dataset whose parent folders pybids cannot mistake for BIDS entities.

    pybids parses entities from absolute paths: a dataset under ``/data/perf/`` gets the
    datatype ``perf`` for every file, one under ``/data/sub-study/`` the subject ``study``. A
    symbolic link in a fresh scratch folder hides the dataset's real location.
    """
    link = scratch / "dataset"
    link.symlink_to(Path(bids_dir).absolute(), target_is_directory=True)
    return link


def _is_anat_image(relative: Path) -> bool:
    """True for ``sub-X/[ses-Y/]anat/<file>``: the only places a T1w image is looked for."""
    parts = relative.parts
    if len(parts) not in (3, 4) or parts[-2] != "anat" or not parts[0].startswith("sub-"):
        return False
    return len(parts) == 3 or parts[1].startswith("ses-")


def _open_layout(root: Path, bids_dir: Path, excluded: Iterable[str]):
    """Index ``root`` with pybids, leaving out ``excluded`` relative paths.

    Raises
    ------
    InvalidInputError
        When pybids cannot read a file of the dataset (e.g. a sidecar that is not JSON).
    """
    from bids.layout import BIDSLayout, BIDSLayoutIndexer
    from bids.layout.validation import DEFAULT_LOCATIONS_TO_IGNORE

    ignore = [
        *DEFAULT_LOCATIONS_TO_IGNORE,
        *(re.compile("^/" + re.escape(relative) + "$") for relative in excluded),
    ]
    try:
        return BIDSLayout(
            str(root),
            derivatives=False,
            indexer=BIDSLayoutIndexer(validate=False, ignore=ignore),
        )
    except (OSError, ValueError) as error:
        # pybids names the file as "<BIDSJSONFile filename='...'>": show the real path.
        reason = re.sub(r"<\w+ filename='([^']*)'>", r"\1", str(error))
        reason = reason.replace(str(root), str(Path(bids_dir).absolute()))
        raise InvalidInputError(
            f"{bids_dir}: cannot index the dataset ({reason}); fix or remove that file"
        ) from None


def collect_t1w_images(
    bids_dir: Path,
    participant_labels: Sequence[str] | None = None,
    session_labels: Sequence[str] | None = None,
    excluded: Iterable[str] = (),
    bids_filters: Mapping[str, Mapping[str, object]] | None = None,
    filter_source: str = "--bids-filter-file",
) -> list[T1wImage]:
    """Every T1w image of the dataset, classified as contrast-enhanced or not.

    The dataset may lie anywhere: under folders named like BIDS datatypes or entities, in
    folders with spaces, behind symbolic links, or be given as a relative path.

    Parameters
    ----------
    bids_dir
        Root of the BIDS dataset.
    participant_labels, session_labels
        Restrict to these labels (already validated, without prefix); ``None`` keeps all.
    excluded
        Paths relative to the dataset root (POSIX separators) that are not indexed: files the
        validator rejected. Their images are not returned.
    bids_filters
        A checked BIDS filter (:func:`load_bids_filters`): only the images its queries select.
    filter_source
        How the messages name the filter (the file it came from).

    Returns
    -------
    list of T1wImage
        Sorted by path. Images whose contrast comes only from the sidecar are logged (warning).

    Raises
    ------
    InvalidInputError
        When a requested participant or session does not exist, no T1w image is found, or a
        filter query selects none.
    """
    import tempfile

    root = Path(bids_dir).absolute()
    with tempfile.TemporaryDirectory(prefix="ce2nce_layout_") as scratch:
        layout_root = _layout_root(root, Path(scratch))
        layout = _open_layout(layout_root, bids_dir, excluded)
        subjects = layout.get_subjects()
        if participant_labels:
            missing = sorted(set(participant_labels) - set(subjects))
            if missing:
                raise InvalidInputError(
                    f"{bids_dir}: no participant(s) {', '.join('sub-' + m for m in missing)}; "
                    f"available: {', '.join('sub-' + s for s in sorted(subjects)) or 'none'}"
                )
        query: dict[str, object] = {
            "suffix": "T1w",
            "extension": [".nii", ".nii.gz"],
            "return_type": "object",
        }
        if participant_labels:
            query["subject"] = list(participant_labels)
        if session_labels:
            query["session"] = list(session_labels)
        images = []
        for bids_file in layout.get(**query):
            relative = Path(bids_file.path).relative_to(layout_root)
            if _is_anat_image(relative):
                images.append(_t1w_image(layout, bids_file, root, relative))
    if not images:
        where = f" for sub-{', sub-'.join(participant_labels)}" if participant_labels else ""
        raise InvalidInputError(
            f"{bids_dir}: no T1w image found{where} (expected sub-*/[ses-*/]anat/*_T1w.nii[.gz])"
        )
    if bids_filters:
        images = apply_bids_filters(images, bids_filters, filter_source)
    return sorted(images, key=lambda image: str(image.path))


def _t1w_image(layout, bids_file, root: Path, relative: Path) -> T1wImage:
    """The :class:`T1wImage` of one indexed file; ``path`` is under ``root``, as given."""
    entities = {
        name: str(value)
        for name, value in bids_file.get_entities().items()
        if name in NAME_ENTITIES
    }
    path = root / relative
    agent = entities.pop("ceagent", None)
    from_sidecar = False
    if agent is None:
        agent = _contrast_label_from_ingredient(
            layout.get_metadata(bids_file.path).get("ContrastBolusIngredient")
        )
        if agent is not None:
            from_sidecar = True
            LOGGER.warning(
                "%s has no ce- entity but its sidecar names ContrastBolusIngredient: "
                "treated as contrast-enhanced (ce-%s); add the entity to its name",
                path,
                agent,
            )
    if agent is not None and not from_sidecar:
        entities["ceagent"] = agent
    return T1wImage(path, relative.as_posix(), entities, agent, from_sidecar)


def _compatible(ce: T1wImage, nce: T1wImage) -> bool:
    """Same session; ``acq`` and ``run`` must agree when both images carry them."""
    if ce.subject != nce.subject or ce.session != nce.session:
        return False
    return all(
        ce.entities.get(key) == nce.entities.get(key)
        for key in ("acquisition", "run")
        if key in ce.entities and key in nce.entities
    )


def pair_images(images: Iterable[T1wImage]) -> list[CeNcePair]:
    """Pair each contrast-enhanced image with the non-enhanced image of its session.

    When several non-enhanced images qualify, the first one in path order is taken and a
    warning names the others. Contrast-enhanced images with no partner are left unpaired.
    """
    images = sorted(images, key=lambda image: str(image.path))
    ncs = [image for image in images if not image.is_contrast_enhanced]
    pairs = []
    for ce in (image for image in images if image.is_contrast_enhanced):
        candidates = [nce for nce in ncs if _compatible(ce, nce)]
        if not candidates:
            continue
        if len(candidates) > 1:
            LOGGER.warning(
                "%s: several non-enhanced T1w match (%s); pairing with the first",
                ce.path.name,
                ", ".join(c.path.name for c in candidates),
            )
        pairs.append(CeNcePair(ce=ce, nce=candidates[0]))
    return pairs


def derivative_name(
    entities: dict[str, str],
    suffix: str,
    extension: str,
    space: str | None = None,
    desc: str | None = None,
    res: str | None = None,
    label: str | None = None,
    clinica_order: bool = False,
) -> str:
    """File name of a derivative from its source's entities.

    Entities follow the source (``sub``, ``ses``, ``acq``, ``ce``, ``rec``, ``run``), then
    ``space``, ``res``, ``label``, ``desc`` in BIDS order, or, with ``clinica_order``, ``space``,
    ``desc``, ``res`` as Clinica's t1-linear names its images
    (``..._space-MNI152NLin2009cSym_desc-Crop_res-1x1x1_T1w.nii.gz``).
    """
    order = (
        (("space", space), ("desc", desc), ("res", res), ("label", label))
        if clinica_order
        else (("space", space), ("res", res), ("label", label), ("desc", desc))
    )
    parts = [entities_to_stem(entities)]
    for key, value in order:
        if value:
            parts.append(f"{key}-{value}")
    return "_".join(parts) + f"_{suffix}{extension}"


def derivative_dir(output_dir: Path, entities: dict[str, str], datatype: str = "anat") -> Path:
    """``output_dir/sub-X[/ses-Y]/datatype``."""
    folder = Path(output_dir) / f"sub-{entities['subject']}"
    if "session" in entities:
        folder = folder / f"ses-{entities['session']}"
    return folder / datatype
