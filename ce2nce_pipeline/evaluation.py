"""Image-similarity evaluation of translation models, as in Bottani et al. 2024 (§2.4.1).

For every pair (real T1w-ce, real T1w-nce) and every model, the T1w-ce is translated by the
model's :class:`~ce2nce_pipeline.models.Predictor` (on the t1-linear grid, exactly as the BIDS
app does), and MAE (%), PSNR (dB) and SSIM are computed **within the brain mask** against the
real T1w-nce; the T1w-ce itself against the T1w-nce is the **baseline** (comparison ``"ce"``).
The metrics are those of :mod:`ce2nce_pipeline.science.metrics`: standard ones by default,
or the authors' original definitions with ``paper_compatible`` (to set numbers beside the
paper's Table 1).

Brain mask: the pair's ``mask``; else the union of ``ce_mask`` and ``nce_mask`` (the paper's
union of the two HD-BET masks); else — **not a brain mask** — an Otsu head mask of the
T1w-nce (:func:`~ce2nce_pipeline.training.datasets.fallback_head_mask`), which keeps scalp and
skull: such numbers are not comparable with the paper's. The mask used is recorded per pair
(``mask_source``) and a warning is logged.

Outputs (:func:`run_evaluation`)::

    per_pair.tsv   one row per pair and comparison: MAE, PSNR, SSIM, mask source
    summary.tsv    mean and sd per comparison and metric
    tests.tsv      paired t-tests of each model against the baseline, per metric, with
                   Bonferroni correction over all the tests of the call (statsmodels)
    table.tsv      "mean ± sd" per metric and comparison, * where significant (Table 1 layout)
    models.tsv     name, checkpoint, architecture and weights sha256 of each model
    evaluation.toml  the settings
    synthetic/<model>/<pair_id>_desc-synthetic_T1w.nii.gz   with ``save_synthetic``
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from .config import RunConfig
from .errors import Ce2nceError, InvalidInputError
from .models.checkpoint import CheckpointError
from .models.predictor import Predictor
from .science.enhancement_removal import (
    enhancement_region,
    reference_white_matter,
    removed_percent,
)
from .science.metrics import image_similarity
from .science.statistics import DEFAULT_ALPHA, paired_ttests, summarize, summary_table
from .training.datasets import load_brain_mask, load_volume
from .training.pairs import ImagePair, load_pairs, normalise_split
from .training.settings import (
    ConfigError,
    build_dataclass,
    coerce_fields,
    read_toml,
    setting,
    settings_dict,
)

__all__ = [
    "BASELINE",
    "METRICS",
    "EvaluationConfig",
    "EvaluationResult",
    "compare_with_baseline",
    "evaluate_pairs",
    "load_evaluation_config",
    "run_evaluation",
    "summarize_metrics",
]

LOGGER = logging.getLogger(__name__)

#: Name of the baseline comparison: the real T1w-ce against the real T1w-nce.
BASELINE = "ce"
#: Metric columns, and whether a lower value is better.
METRICS: dict[str, bool] = {"mae_percent": True, "psnr_db": False, "ssim": False}


@dataclass
class EvaluationConfig:
    """Settings of an evaluation (``workflows/evaluate.toml``).

    Top-level TOML keys, plus a ``[models]`` table ``name = "checkpoint folder"``. Relative
    paths are relative to the TOML file's folder. Unknown keys are refused.

    Attributes
    ----------
    output_dir : pathlib.Path
        Folder of the result tables (created).
    models : dict of str to pathlib.Path
        Model name (a column label; not ``"ce"``) to checkpoint folder.
    pairs_tsv, dataset_dir : pathlib.Path, optional
        Exactly one: a TSV of pairs (columns ce, nce, and mask or ce_mask/nce_mask) or a
        ce2nce output dataset.
    split : str, optional
        Evaluate only the TSV rows of this split (e.g. ``"test"``).
    paper_compatible : bool
        Use the original code's metric definitions.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda[:i]"``.
    num_threads : int, optional
        torch CPU threads.
    mixed_precision : bool
        float16 autocast on CUDA (ignored on CPU).
    alpha : float
        Significance threshold on the corrected p-values (the paper: 0.01).
    correction : str
        ``method`` of :func:`statsmodels.stats.multitest.multipletests`.
    ddof : int
        Delta degrees of freedom of the sds (1: sample sd).
    save_synthetic : bool
        Also write the synthetic images.
    enhancement_opening : bool
        Subtract, after each network, the enhancement a grey-level opening finds in its output,
        as the participant level does by default
        (:mod:`~ce2nce_pipeline.science.enhancement_opening`).
    """

    output_dir: Path = setting(section=None, path=True)
    models: dict[str, Path] = setting(section=None, path=True)
    pairs_tsv: Path | None = setting(None, section=None, path=True)
    dataset_dir: Path | None = setting(None, section=None, path=True)
    split: str | None = setting(None, section=None)
    paper_compatible: bool = setting(False, section=None)
    device: str = setting("auto", section=None)
    num_threads: int | None = setting(None, section=None, low=1)
    mixed_precision: bool = setting(True, section=None)
    alpha: float = setting(DEFAULT_ALPHA, section=None, low=0.0, high=1.0, open_low=True)
    correction: str = setting("bonferroni", section=None)
    ddof: int = setting(1, section=None, low=0)
    save_synthetic: bool = setting(False, section=None)
    enhancement_opening: bool = setting(RunConfig.enhancement_opening, section=None)

    def __post_init__(self) -> None:
        coerce_fields(self)
        if (self.pairs_tsv is None) == (self.dataset_dir is None):
            raise ConfigError("give exactly one data source: pairs_tsv or dataset_dir")
        if BASELINE in self.models:
            raise ConfigError(f"model name {BASELINE!r} is reserved for the baseline")
        if self.ddof not in (0, 1):
            raise ConfigError(f"ddof must be 0 or 1, got {self.ddof}")
        if not self.alpha < 1.0:
            raise ConfigError(f"alpha must be in (0, 1), got {self.alpha}")

    def to_toml(self) -> str:
        """The settings as TOML text."""
        import tomli_w

        return tomli_w.dumps(settings_dict(self))


def load_evaluation_config(
    path: str | os.PathLike[str] | None = None, **overrides: Any
) -> EvaluationConfig:
    """Read ``path`` (optional) and apply ``overrides`` (``None`` values ignored).

    ``models`` overrides are added to the file's models; a ``pairs_tsv`` or ``dataset_dir``
    override replaces the file's data source.

    Raises
    ------
    ConfigError
        One line naming the file and the offending key.
    """
    values: dict[str, Any] = {}
    source = "command line"
    if path is not None:
        source = str(path)
        config = build_dataclass(
            EvaluationConfig,
            read_toml(path),
            source=source,
            base_dir=Path(path).resolve().parent,
        )
        values = {name: getattr(config, name) for name in config.__dataclass_fields__}
    if overrides.get("pairs_tsv") is not None or overrides.get("dataset_dir") is not None:
        # A data source given as an override replaces the file's, whichever kind it is.
        values.pop("pairs_tsv", None)
        values.pop("dataset_dir", None)
    for name, value in overrides.items():
        if value is None:
            continue
        if name == "models" and values.get("models"):
            value = {**values["models"], **value}
        values[name] = value
    missing = [name for name in ("output_dir", "models") if not values.get(name)]
    if missing:
        raise ConfigError(f"{source}: missing setting(s) {', '.join(missing)}")
    try:
        return EvaluationConfig(**values)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


@dataclass
class EvaluationResult:
    """Tables of an evaluation (see the module docstring) and the pairs that failed."""

    per_pair: pd.DataFrame
    summary: pd.DataFrame
    tests: pd.DataFrame
    table: pd.DataFrame
    skipped: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)


def _pair_row(
    pair: ImagePair,
    comparison: str,
    metrics: Any,
    mask_source: str,
    voxels: int,
    removed: float,
) -> dict[str, Any]:
    return {
        "pair_id": pair.pair_id,
        "participant_id": pair.participant_id or "",
        "session_id": pair.session_id or "",
        "comparison": comparison,
        "mae_percent": metrics.mae_percent,
        "psnr_db": metrics.psnr_db,
        "ssim": metrics.ssim,
        "enhancement_removed_percent": removed,
        "mask_source": mask_source,
        "mask_voxels": voxels,
        "paper_compatible": metrics.paper_compatible,
    }


def _evaluate_pair(
    pair: ImagePair,
    predictors: Mapping[str, Predictor],
    *,
    paper_compatible: bool,
    synthetic_dir: str | os.PathLike[str] | None,
) -> tuple[list[dict[str, Any]], str]:
    """The baseline's and every model's rows of one pair, and where its mask came from.

    Raises
    ------
    InvalidInputError, ValueError
        If an input of the pair is unusable.
    """
    ce, ce_affine = load_volume(pair.ce)
    nce, nce_affine = load_volume(pair.nce)
    if not np.allclose(ce_affine, nce_affine, atol=1e-3):
        raise InvalidInputError(f"{pair.ce}: affine differs from {pair.nce}'s")
    mask, mask_source = load_brain_mask(pair, nce.shape, nce)
    brain = mask & (ce > 0)
    white_matter = reference_white_matter(nce, brain)
    enhancement = enhancement_region(nce, ce, brain, white_matter)
    pair_rows = [
        _pair_row(
            pair,
            BASELINE,
            image_similarity(nce, ce, mask, paper_compatible=paper_compatible),
            mask_source,
            int(mask.sum()),
            removed_percent(enhancement, ce, white_matter),
        )
    ]
    for name, predictor in predictors.items():
        try:
            synthetic = predictor.predict_array(ce)
        except ValueError as error:
            raise InvalidInputError(f"{pair.ce}: {error}") from None
        if synthetic_dir is not None:
            _save_synthetic(synthetic, ce_affine, Path(synthetic_dir) / name, pair.pair_id)
        metrics = image_similarity(nce, synthetic, mask, paper_compatible=paper_compatible)
        removed = removed_percent(enhancement, synthetic, white_matter)
        pair_rows.append(_pair_row(pair, name, metrics, mask_source, int(mask.sum()), removed))
    return pair_rows, mask_source


def _save_synthetic(synthetic: np.ndarray, affine: np.ndarray, folder: Path, pair_id: str) -> None:
    """Write ``folder/<pair_id>_desc-synthetic_T1w.nii.gz`` (float32, the T1w-ce's affine)."""
    folder.mkdir(parents=True, exist_ok=True)
    nib.save(
        nib.Nifti1Image(synthetic.astype(np.float32), affine),
        folder / f"{pair_id}_desc-synthetic_T1w.nii.gz",
    )


def evaluate_pairs(
    pairs: Sequence[ImagePair],
    predictors: Mapping[str, Predictor],
    *,
    paper_compatible: bool = False,
    synthetic_dir: str | os.PathLike[str] | None = None,
    skipped: list[str] | None = None,
) -> pd.DataFrame:
    """Metrics of the baseline and of every model on every pair.

    Parameters
    ----------
    pairs : sequence of ImagePair
        Pairs on the t1-linear grid.
    predictors : mapping of str to Predictor
        Model name to predictor.
    paper_compatible : bool
        Original code's metric definitions (see :mod:`ce2nce_pipeline.science.metrics`).
    synthetic_dir : path-like, optional
        Write each synthetic image to ``synthetic_dir/<model>/<pair_id>_desc-synthetic_T1w.nii.gz``
        with the T1w-ce's affine.
    skipped : list, optional
        Receives ``"pair_id: reason"`` for each pair left out because an input is unusable
        (the other pairs are still evaluated).

    Returns
    -------
    pandas.DataFrame
        One row per pair and comparison (baseline ``"ce"`` first), columns ``pair_id,
        participant_id, session_id, comparison, mae_percent, psnr_db, ssim,
        enhancement_removed_percent (white-matter units, NaN without enhancement), mask_source,
        mask_voxels, paper_compatible``.

    Raises
    ------
    InvalidInputError
        If no pair could be evaluated.
    """
    rows: list[dict[str, Any]] = []
    warned = False
    for pair in pairs:
        try:
            pair_rows, mask_source = _evaluate_pair(
                pair, predictors, paper_compatible=paper_compatible, synthetic_dir=synthetic_dir
            )
        except (InvalidInputError, ValueError) as error:
            LOGGER.error("%s: skipped (%s)", pair.pair_id, error)
            if skipped is not None:
                skipped.append(f"{pair.pair_id}: {error}")
            continue
        if mask_source.startswith("otsu") and not warned:
            LOGGER.warning(
                "No brain mask given (e.g. %s): metrics are computed in an Otsu head mask of "
                "the T1w-nce, which includes scalp and skull and is not comparable with the "
                "paper's HD-BET brain masks",
                pair.pair_id,
            )
            warned = True
        rows.extend(pair_rows)
    if not rows:
        raise InvalidInputError(f"none of the {len(pairs)} pair(s) could be evaluated")
    return pd.DataFrame.from_records(rows)


def _long(per_pair: pd.DataFrame) -> pd.DataFrame:
    """One row per pair, comparison and metric (column ``value``); non-finite values dropped."""
    long = per_pair.melt(
        id_vars=["pair_id", "comparison"],
        value_vars=list(METRICS),
        var_name="metric",
        value_name="value",
    )
    finite = np.isfinite(long["value"].to_numpy(dtype=np.float64))
    if not finite.all():
        LOGGER.warning(
            "%d non-finite metric value(s) (PSNR of identical images) are left out of the "
            "statistics",
            int((~finite).sum()),
        )
    return long.loc[finite].reset_index(drop=True)


def summarize_metrics(per_pair: pd.DataFrame, *, ddof: int = 1) -> pd.DataFrame:
    """Number of pairs, mean and sd of each metric per comparison.

    Returns
    -------
    pandas.DataFrame
        Columns ``comparison, metric, n, mean, sd`` (rows in order of appearance).
    """
    return summarize(_long(per_pair), value="value", by=("comparison", "metric"), ddof=ddof)


def compare_with_baseline(
    per_pair: pd.DataFrame,
    *,
    method: str = "bonferroni",
    alpha: float = DEFAULT_ALPHA,
) -> pd.DataFrame:
    """Paired t-tests of every model against the baseline, per metric.

    Uses :func:`ce2nce_pipeline.science.statistics.paired_ttests` (``scipy.stats.ttest_rel``)
    with the p-values corrected by :func:`statsmodels.stats.multitest.multipletests` over all
    the tests made here (metrics × models) as one family.

    Returns
    -------
    pandas.DataFrame
        Columns ``metric, comparison, baseline, n, mean_baseline, mean_compared,
        mean_difference, t, p, p_corrected, family_size, significant, improved``;
        ``improved`` is whether the model's mean is better than the baseline's (lower MAE,
        higher PSNR and SSIM). Empty when there is no model.
    """
    long = _long(per_pair)
    if not (long["comparison"] != BASELINE).any():
        return pd.DataFrame()
    tests = paired_ttests(
        long,
        value="value",
        baseline=BASELINE,
        id_cols=("pair_id",),
        strata=("metric",),
        family_by=(),
        method=method,
        alpha=alpha,
    )
    lower = tests["metric"].map(METRICS).astype(bool)
    difference = tests["mean_compared"] - tests["mean_baseline"]
    tests["improved"] = np.where(lower, difference < 0, difference > 0)
    return tests


def _table(per_pair: pd.DataFrame, *, method: str, alpha: float, ddof: int) -> pd.DataFrame:
    long = _long(per_pair)
    if not (long["comparison"] != BASELINE).any():
        return pd.DataFrame()
    return summary_table(
        long,
        value="value",
        baseline=BASELINE,
        id_cols=("pair_id",),
        strata=("metric",),
        family_by=(),
        method=method,
        alpha=alpha,
        ddof=ddof,
        decimals=2,
    )


def _write_tsv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, sep="\t", index=False, na_rep="n/a", float_format="%.6g")
    return path


def _selected_pairs(config: EvaluationConfig) -> list[ImagePair]:
    """The configured pairs, only those of ``config.split`` when it is set."""
    pairs = load_pairs(pairs_tsv=config.pairs_tsv, dataset_dir=config.dataset_dir)
    if config.split is not None:
        wanted = normalise_split(config.split)
        pairs = [pair for pair in pairs if pair.split == wanted]
        if not pairs:
            raise ConfigError(f"no pair has split {config.split!r}")
    return pairs


def _predictors(config: EvaluationConfig) -> dict[str, Predictor]:
    """A predictor of each configured model, on the configured device."""
    predictors: dict[str, Predictor] = {}
    for name, checkpoint in config.models.items():
        try:
            predictors[name] = Predictor.from_checkpoint(
                checkpoint,
                device=config.device,
                num_threads=config.num_threads,
                mixed_precision=config.mixed_precision,
                enhancement_opening=config.enhancement_opening,
            )
        except CheckpointError as error:
            raise Ce2nceError(f"model {name}: {error}") from None
        except ValueError as error:
            raise ConfigError(f"device: {error}") from None
    return predictors


def _models_table(config: EvaluationConfig, predictors: Mapping[str, Predictor]) -> pd.DataFrame:
    """One row per model: its name, checkpoint, architecture and weights' SHA-256."""
    return pd.DataFrame(
        [
            {
                "name": name,
                "checkpoint": os.fspath(config.models[name]),
                "architecture": predictor.architecture,
                "weights_sha256": predictor.weights_sha256,
            }
            for name, predictor in predictors.items()
        ],
        columns=["name", "checkpoint", "architecture", "weights_sha256"],
    )


def _write_tables(result: EvaluationResult, models: pd.DataFrame, out: Path) -> None:
    """Write the result's tables and the models table as ``out/<name>.tsv``; record them."""
    for name, frame in (
        ("per_pair", result.per_pair),
        ("summary", result.summary),
        ("tests", result.tests),
        ("table", result.table),
        ("models", models),
    ):
        result.files[name] = _write_tsv(frame, out / f"{name}.tsv")


def run_evaluation(config: EvaluationConfig) -> EvaluationResult:
    """Evaluate the configured models on the configured pairs and write the tables.

    Raises
    ------
    Ce2nceError
        For unusable settings, pairs or checkpoints (one line naming the file).
    """
    import torch

    pairs = _selected_pairs(config)
    previous_threads = torch.get_num_threads()
    try:
        predictors = _predictors(config)
        out = Path(config.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        skipped: list[str] = []
        per_pair = evaluate_pairs(
            pairs,
            predictors,
            paper_compatible=config.paper_compatible,
            synthetic_dir=out / "synthetic" if config.save_synthetic else None,
            skipped=skipped,
        )
    finally:
        torch.set_num_threads(previous_threads)
    result = EvaluationResult(
        per_pair=per_pair,
        summary=summarize_metrics(per_pair, ddof=config.ddof),
        tests=compare_with_baseline(per_pair, method=config.correction, alpha=config.alpha),
        table=_table(per_pair, method=config.correction, alpha=config.alpha, ddof=config.ddof),
        skipped=skipped,
    )
    _write_tables(result, _models_table(config, predictors), out)
    settings = out / "evaluation.toml"
    settings.write_text(config.to_toml(), encoding="utf-8")
    result.files["settings"] = settings
    if skipped:
        LOGGER.warning("%d pair(s) skipped: %s", len(skipped), "; ".join(skipped))
    LOGGER.info(
        "Evaluated %d pair(s) x %d model(s) in %s",
        per_pair["pair_id"].nunique(),
        len(predictors),
        out,
    )
    return result
