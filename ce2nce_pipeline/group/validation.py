"""The paper's validation (Tables 1-3) on every session with a real T1w-ce/T1w-nce pair.

For each pair (a real nce and a real ce of one session, with the ce's synthetic nce when there
is one) this module measures image similarity in the union brain mask, tissue volumes, rD/rAD
and Dice against the real nce, then summarises them with the functions of
:mod:`ce2nce_pipeline.science.statistics` (see docs/statistics.md and docs/group.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..science.metrics import image_similarity, union_mask
from ..science.statistics import (
    DEFAULT_ALPHA,
    paired_ttests,
    relative_differences,
    summary_table,
)
from ..science.volumes import dice_per_tissue, tissue_volumes
from .collect import (
    ImageOutputs,
    SessionOutputs,
    read_sidecar,
    read_volumes,
    translation_model,
)

logger = logging.getLogger(__name__)

#: Columns that identify one ce/nce pair (a session may hold several ce images).
PAIR_ID_COLS: tuple[str, ...] = ("participant_id", "session_id", "ce_source")
BASELINE = "ce"
REFERENCE = "nce"
METRICS: tuple[str, ...] = ("MAE_percent", "PSNR_dB", "SSIM")
TISSUES: tuple[str, ...] = ("GM", "WM", "CSF")


@dataclass(frozen=True)
class ValidationOptions:
    """Conventions of the validation statistics (defaults documented in docs/group.md).

    Attributes
    ----------
    ddof : int, default 1
        Delta degrees of freedom of the sds in the summary tables; the paper's Table 2 used 0
        (:data:`ce2nce_pipeline.science.statistics.PAPER_DDOF`).
    alpha : float, default 0.01
        Threshold on the corrected p-value for the ``*`` marks (the paper's).
    method : str, default "bonferroni"
        p-value correction, any ``statsmodels.stats.multitest.multipletests`` method.
    family_by : tuple of str or None, default None
        Columns defining one correction family; ``None`` = one family per group (all tissues
        and models of one test set, the paper's family), or all tests without a group.
    paper_compatible_similarity : bool, default False
        Use the original code's MAE/PSNR/SSIM definitions (docs/statistics.md).
    mean_tiv : float or None, default None
        ``mean_TIV`` of rD/rAD in cm³; by default the mean real-nce TIV over the sessions
        analysed, each session once.
    decimals : int, default 2
        Decimals printed in the summary tables.
    include_flagged : bool, default False
        Keep pairs whose t1-linear registration is flagged (``RegistrationFlagged`` in a
        sidecar: quality below its threshold, or the ce and nce not in register); by default
        they are kept out of the statistics and named in ``problems``.
    """

    ddof: int = 1
    alpha: float = DEFAULT_ALPHA
    method: str = "bonferroni"
    family_by: tuple[str, ...] | None = None
    paper_compatible_similarity: bool = False
    mean_tiv: float | None = None
    decimals: int = 2
    include_flagged: bool = False


@dataclass
class ValidationResult:
    """Tidy tables and summaries of the validation; see docs/group.md for every column."""

    pairs: pd.DataFrame
    similarity: pd.DataFrame
    volumes: pd.DataFrame
    relative: pd.DataFrame
    dice: pd.DataFrame
    ttests: dict[str, pd.DataFrame] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    examples: list[dict[str, object]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def model_labels(sessions: Sequence[SessionOutputs]) -> dict[str, str]:
    """A comparison label per translation model, keyed by weights sha256 (``""`` if unknown).

    One model is labelled by its architecture (``"Att-U-Net"``); when several models are
    present each label gets the first 8 characters of its sha256, so that they stay apart.
    """
    models: dict[str, str] = {}
    for session in sessions:
        for image in session.synthetic.values():
            meta = translation_model(image)
            models.setdefault(meta.get("WeightsSha256", ""), meta.get("Architecture", ""))
    if len(models) <= 1:
        return {sha: (arch or "synthetic") for sha, arch in models.items()}
    return {sha: f"{arch or 'synthetic'} ({sha[:8] or 'unknown'})" for sha, arch in models.items()}


def _load(path: Path) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    image = nib.load(str(path))
    return np.asanyarray(image.get_fdata(dtype=np.float64)), image.affine


def _load_labels(path: Path) -> tuple[NDArray[np.int16], NDArray[np.float64]]:
    data, affine = _load(path)
    return np.rint(data).astype(np.int16), affine


def _volumes(image: ImageOutputs) -> dict[str, float]:
    """Volumes from the volumes table, else measured on the label map."""
    if image.volumes is not None:
        return read_volumes(image.volumes)
    if image.dseg is None:
        raise ValueError("no volumes table and no dseg")
    labels, affine = _load_labels(image.dseg)
    measured = tissue_volumes(labels, affine=affine)
    return {"GM": measured.gm, "WM": measured.wm, "CSF": measured.csf, "TIV": measured.tiv}


def _pair_mask(session: SessionOutputs, ce: ImageOutputs) -> NDArray[np.bool_]:
    union = session.union_masks.get(ce.source)
    if union is not None:
        return _load(union)[0] > 0.5
    if session.nce is None or session.nce.mask is None or ce.mask is None:
        raise ValueError("no union mask and no brain masks of both images")
    return union_mask(_load(session.nce.mask)[0] > 0.5, _load(ce.mask)[0] > 0.5)


def _measure_pair(
    session: SessionOutputs,
    ce: ImageOutputs,
    synthetic: ImageOutputs | None,
    label: str,
    ids: dict[str, str],
    paper_compatible: bool,
) -> tuple[list[dict], list[dict], list[dict], list[str]]:
    """Similarity, volume and Dice rows of one pair, and one line per measure it lacks."""
    nce = session.nce
    if nce is None:
        raise ValueError("a pair needs a real T1w-nce")
    name = f"{ids['participant_id']} {ids['session_id']} {ce.source}"
    compared = [(BASELINE, ce)] + ([(label, synthetic)] if synthetic is not None else [])
    similarity: list[dict] = []
    volumes: list[dict] = []
    dice: list[dict] = []
    problems: list[str] = []

    if nce.image is None:
        problems.append(f"{name}: no similarity, the real T1w-nce has no t1-linear image")
    else:
        try:
            mask = _pair_mask(session, ce)
            reference = _load(nce.image)[0]
            for comparison, image in compared:
                if image.image is None:
                    problems.append(f"{name}: no similarity for {comparison}, image missing")
                    continue
                metrics = image_similarity(
                    reference, _load(image.image)[0], mask, paper_compatible=paper_compatible
                )
                values = (metrics.mae_percent, metrics.psnr_db, metrics.ssim)
                for metric, value in zip(METRICS, values, strict=True):
                    row = {**ids, "comparison": comparison, "metric": metric, "value": value}
                    similarity.append(row)
        except (OSError, ValueError) as error:
            problems.append(f"{name}: no similarity ({error})")

    for comparison, image in [(REFERENCE, nce), *compared]:
        try:
            volumes.append({**ids, "image": comparison, **_volumes(image)})
        except (OSError, ValueError) as error:
            problems.append(f"{name}: no volumes for {comparison} ({error})")

    if nce.dseg is None:
        problems.append(f"{name}: no Dice, the real T1w-nce has no dseg")
    else:
        try:
            reference_labels = _load_labels(nce.dseg)[0]
            for comparison, image in compared:
                if image.dseg is None:
                    problems.append(f"{name}: no Dice for {comparison}, dseg missing")
                    continue
                scores = dice_per_tissue(reference_labels, _load_labels(image.dseg)[0])
                for tissue, value in scores.items():
                    dice.append({**ids, "tissue": tissue, "comparison": comparison, "dice": value})
        except (OSError, ValueError) as error:
            problems.append(f"{name}: no Dice ({error})")
    return similarity, volumes, dice, problems


def _frame(rows: list[dict], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows, columns=list(columns))


def _pair_ids(
    session: SessionOutputs,
    ce: ImageOutputs,
    group_by: str | None,
    groups: Mapping[tuple[str, str], str],
) -> dict[str, str]:
    """The columns that name one ce/nce pair, with its group when ``group_by`` is given."""
    ids = {
        "participant_id": session.participant_id,
        "session_id": session.session_id,
        "ce_source": ce.source,
    }
    if group_by:
        ids[group_by] = groups.get(session.key, "n/a")
    return ids


def registration_record(image: ImageOutputs | None) -> dict:
    """The registration fields of a t1-linear image's sidecar (``{}`` without them)."""
    if image is None:
        return {}
    sidecar = read_sidecar(image.sidecar)
    keys = ("RegistrationQuality", "RegistrationFlagged", "PairConsistencyMM")
    return {key: sidecar[key] for key in keys if key in sidecar}


def _pair_row(
    ids: dict[str, str],
    nce: ImageOutputs,
    synthetic: ImageOutputs | None,
    label: str,
    sha: str,
    similarity: list[dict],
    volumes: list[dict],
    dice: list[dict],
    registration: dict[str, dict],
) -> dict[str, object]:
    """One row of the pairs table: what the pair is, its registration, its measures."""
    return {
        **ids,
        "qc_registration_ce": registration["ce"].get("RegistrationQuality"),
        "qc_registration_nce": registration["nce"].get("RegistrationQuality"),
        "pair_consistency_mm": registration["ce"].get("PairConsistencyMM"),
        "registration_flagged": any(r.get("RegistrationFlagged") for r in registration.values()),
        "nce_source": nce.source,
        "synthetic_label": label if synthetic is not None else "n/a",
        "model_sha256": sha or "n/a",
        "similarity": bool(similarity),
        "volumes": len(volumes) == (3 if synthetic is not None else 2),
        "dice": bool(dice),
    }


def _example(
    session: SessionOutputs, ce: ImageOutputs, synthetic: ImageOutputs | None
) -> dict[str, object] | None:
    """The pair's ce, synthetic and nce images for the example figure; None without all three."""
    if synthetic is None or not synthetic.image or not ce.image:
        return None
    if session.nce is None or not session.nce.image:
        return None
    return {
        "label": f"{session.participant_id} {session.session_id}",
        "ce": ce.image,
        "synthetic": synthetic.image,
        "nce": session.nce.image,
    }


def _result(
    id_cols: list[str],
    pairs: list[dict],
    similarity: list[dict],
    volumes: list[dict],
    dice: list[dict],
    examples: list[dict[str, object]],
    problems: list[str],
) -> ValidationResult:
    """The measured rows as tables (with their columns even when empty), before the summaries."""
    return ValidationResult(
        pairs=_frame(
            pairs,
            [*id_cols, "qc_registration_ce", "qc_registration_nce", "pair_consistency_mm"]
            + ["registration_flagged", "nce_source", "synthetic_label", "model_sha256"]
            + ["similarity", "volumes", "dice"],
        ),
        similarity=_frame(similarity, [*id_cols, "comparison", "metric", "value"]),
        volumes=_frame(volumes, [*id_cols, "image", *TISSUES, "TIV"]),
        relative=pd.DataFrame(),
        dice=_frame(dice, [*id_cols, "tissue", "comparison", "dice"]),
        examples=examples,
        problems=problems,
    )


def validate(
    sessions: Sequence[SessionOutputs],
    *,
    group_by: str | None = None,
    groups: Mapping[tuple[str, str], str] | None = None,
    options: ValidationOptions | None = None,
) -> ValidationResult:
    """Compute the paper's validation on every session with a real ce/nce pair.

    Parameters
    ----------
    sessions : sequence of SessionOutputs
        From :func:`ce2nce_pipeline.group.collect.collect_sessions`.
    group_by : str, optional
        Name of the grouping column (e.g. ``"quality"``); its values come from ``groups``.
    groups : mapping of (participant_id, session_id) to str, optional
        Group of each session; sessions without one get ``"n/a"``.
    options : ValidationOptions, optional
        Statistical conventions; defaults as documented there.

    Returns
    -------
    ValidationResult
        Empty tables (with their columns) where nothing could be measured; ``problems`` says
        what was skipped and why.
    """
    options = options or ValidationOptions()
    groups = groups or {}
    labels = model_labels(sessions)
    group_cols = [group_by] if group_by else []
    id_cols = [*PAIR_ID_COLS, *group_cols]
    pairs, similarity, volumes, dice, problems = [], [], [], [], []
    examples: list[dict[str, object]] = []
    missing_group = 0
    for session in sessions:
        if session.nce is None or not session.ce:
            continue
        for ce in session.ce:
            synthetic = session.synthetic.get(ce.source)
            sha = translation_model(synthetic).get("WeightsSha256", "") if synthetic else ""
            label = labels.get(sha, "synthetic")
            ids = _pair_ids(session, ce, group_by, groups)
            registration = {"ce": registration_record(ce), "nce": registration_record(session.nce)}
            if not options.include_flagged and any(
                r.get("RegistrationFlagged") for r in registration.values()
            ):
                problems.append(
                    f"{session.participant_id} {session.session_id} {ce.source}: t1-linear "
                    "registration flagged (see its report); kept out of the statistics "
                    "(--include-flagged keeps it)"
                )
                pairs.append(
                    _pair_row(ids, session.nce, None, "n/a", "", [], [], [], registration)
                )
                continue
            missing_group += bool(group_by) and session.key not in groups
            rated_bad = any(
                image.kind == "synthetic" and image.source == ce.source
                for image in session.rated_bad
            )
            if synthetic is None and not rated_bad:
                problems.append(
                    f"{session.participant_id} {session.session_id} {ce.source}: no synthetic "
                    "T1w-nce (translation missing or no model given); only the ce baseline"
                )
            sim, vol, dic, missing = _measure_pair(
                session, ce, synthetic, label, ids, options.paper_compatible_similarity
            )
            similarity += sim
            volumes += vol
            dice += dic
            problems += missing
            pairs.append(
                _pair_row(ids, session.nce, synthetic, label, sha, sim, vol, dic, registration)
            )
            example = _example(session, ce, synthetic)
            if example is not None:
                examples.append(example)
    if len(labels) > 1:
        problems.append(
            f"the synthetic images come from {len(labels)} translation models; each is compared "
            f"with the ce baseline separately: {', '.join(sorted(labels.values()))}"
        )
    if missing_group:
        problems.append(
            f"{missing_group} pair(s) have no value for {group_by!r}; they form the group 'n/a'"
        )
    result = _result(id_cols, pairs, similarity, volumes, dice, examples, problems)
    if result.pairs.empty:
        result.problems.append("no session has both a real T1w-ce and a real T1w-nce")
        return result
    _summarise(result, id_cols, group_by, options)
    return result


def _mean_tiv(volumes: pd.DataFrame, options: ValidationOptions) -> float | None:
    if options.mean_tiv is not None:
        return options.mean_tiv
    analysed = volumes.groupby(list(PAIR_ID_COLS)).filter(
        lambda g: (g["image"] == REFERENCE).any() and (g["image"] != REFERENCE).any()
    )
    reference = analysed.loc[analysed["image"] == REFERENCE]
    # Each session counted once, even when it holds several ce images.
    per_session = reference.drop_duplicates(["participant_id", "session_id"])["TIV"]
    return float(per_session.mean()) if len(per_session) else None


def _summarise(
    result: ValidationResult,
    id_cols: list[str],
    group_by: str | None,
    options: ValidationOptions,
) -> None:
    """Fill rD/rAD, the t-tests and the summary tables in place; failures become problems."""
    common = {
        "baseline": BASELINE,
        "id_cols": id_cols,
        "group_col": group_by,
        "family_by": options.family_by,
        "method": options.method,
        "alpha": options.alpha,
    }
    try:
        result.relative = relative_differences(
            result.volumes,
            reference=REFERENCE,
            id_cols=id_cols,
            tissues=TISSUES,
            mean_tiv=_mean_tiv(result.volumes, options),
        )
    except ValueError as error:
        result.problems.append(f"no rD/rAD: {error}")
    specs = {
        "rAD": (result.relative, "rAD", ("tissue",), "table2_rAD"),
        "similarity": (result.similarity, "value", ("metric",), "table1_similarity"),
        "dice": (result.dice, "dice", ("tissue",), "table3_dice"),
    }
    for name, (table, value, strata, table_name) in specs.items():
        if table.empty:
            continue
        try:
            finite = table.loc[np.isfinite(table[value].to_numpy(dtype=np.float64))]
            if len(finite) < len(table):
                result.problems.append(
                    f"{len(table) - len(finite)} infinite {name} value(s) left out of its "
                    "tests and summary (identical images give PSNR = inf)"
                )
            result.ttests[name] = paired_ttests(finite, value=value, strata=strata, **common)
            result.tables[table_name] = summary_table(
                finite,
                value=value,
                strata=strata,
                ddof=options.ddof,
                decimals=options.decimals,
                **common,
            )
        except ValueError as error:
            result.problems.append(f"no {table_name}: {error}")
