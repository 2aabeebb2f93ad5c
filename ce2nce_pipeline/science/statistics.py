"""Group statistics of the paper's validation: rAD/rD, mean ± sd, paired t-tests, Bonferroni.

Formulas (Bottani et al. 2024, equations 1a and 1b), for tissue ``t``, the real T1w-nce image
``I`` (the reference) and a compared image ``J`` (the T1w-ce baseline or a synthetic T1w-nce)::

    rD  = (V_t^I - V_t^J) / TIV^I * mean_TIV
    rAD = |V_t^I - V_t^J| / TIV^I * mean_TIV

in cm³, ``mean_TIV`` being by default the mean TIV of the reference images over the sessions
analysed. The paired t-tests compare, per tissue, the rAD of the baseline with the rAD of each
model on the same sessions (:func:`scipy.stats.ttest_rel`), and the p-values are corrected with
:func:`statsmodels.stats.multitest.multipletests` (Bonferroni by default) within a family of
comparisons. See ``docs/statistics.md`` for the conventions and the reproduction of Table 2.

All functions take and return tidy :class:`pandas.DataFrame` objects and never modify their
inputs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import ttest_rel
from statsmodels.stats.multitest import multipletests

logger = logging.getLogger(__name__)

TISSUES: tuple[str, ...] = ("GM", "WM", "CSF")
#: Columns that identify a session in the tables.
DEFAULT_ID_COLS: tuple[str, ...] = ("participant_id", "session_id")
#: Threshold on the corrected p-value for the significance mark (the paper's Table 2).
DEFAULT_ALPHA = 0.01
#: The sd convention of the paper's Table 2 (population sd); the default here is ddof = 1.
PAPER_DDOF = 0


def _require_columns(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; it has {list(table.columns)}")


def _require_finite(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    for column in columns:
        values = pd.to_numeric(table[column], errors="coerce")
        if not np.isfinite(values.to_numpy(dtype=np.float64)).all():
            raise ValueError(f"{what} column {column!r} holds NaN, infinite or non-numeric values")


def relative_differences(
    volumes: pd.DataFrame,
    *,
    reference: str = "nce",
    image_col: str = "image",
    id_cols: Sequence[str] = DEFAULT_ID_COLS,
    tissues: Sequence[str] = TISSUES,
    tiv_col: str = "TIV",
    mean_tiv: float | None = None,
) -> pd.DataFrame:
    """rD and rAD (cm³) of every compared image against the session's reference image.

    Parameters
    ----------
    volumes : pandas.DataFrame
        One row per session x image with the ``id_cols``, ``image_col`` (e.g. ``"nce"``,
        ``"ce"``, a model name), one column per tissue (cm³) and ``tiv_col``. Columns that
        describe the session (such as a test-set or quality group) can be added to ``id_cols``
        to carry them to the output.
    reference : str, default "nce"
        Value of ``image_col`` that marks the real T1w-nce image (``I`` in the formulas).
    image_col : str, default "image"
        Column naming the image of each row.
    id_cols : sequence of str, default ("participant_id", "session_id")
        Columns identifying a session.
    tissues : sequence of str, default ("GM", "WM", "CSF")
        Tissue volume columns.
    tiv_col : str, default "TIV"
        Column of the total intracranial volume.
    mean_tiv : float, optional
        The ``mean_TIV`` factor (cm³). By default, the mean reference TIV over the sessions
        analysed: those with a reference image and at least one compared image.

    Returns
    -------
    pandas.DataFrame
        One row per session x tissue x compared image, columns ``*id_cols, tissue,
        comparison, volume_reference, volume_compared, tiv_reference, mean_tiv, rD, rAD``.
        Sessions without a reference image are skipped (logged as a warning).

    Raises
    ------
    ValueError
        On missing columns, duplicate session x image rows, NaN or non-positive TIVs,
        NaN volumes, a non-positive ``mean_tiv`` or no session with a reference image and a
        compared image.
    """
    id_cols = list(id_cols)
    tissues = list(tissues)
    _require_columns(volumes, [*id_cols, image_col, *tissues, tiv_col], "volumes table")
    _require_finite(volumes, [*tissues, tiv_col], "volumes table")
    duplicated = volumes.duplicated([*id_cols, image_col])
    if duplicated.any():
        first = volumes.loc[duplicated, [*id_cols, image_col]].iloc[0].to_dict()
        raise ValueError(f"volumes table has several rows for one session and image, e.g. {first}")
    if (volumes[tiv_col] <= 0).any():
        raise ValueError(f"volumes table column {tiv_col!r} has non-positive TIVs")

    is_reference = volumes[image_col] == reference
    ref = volumes.loc[is_reference, [*id_cols, *tissues, tiv_col]]
    compared = volumes.loc[~is_reference, [*id_cols, image_col, *tissues]]
    merged = compared.merge(ref, on=id_cols, how="left", suffixes=("", "_ref"), indicator=True)
    orphans = merged.loc[merged["_merge"] == "left_only", id_cols].drop_duplicates()
    if len(orphans):
        logger.warning(
            "%d session(s) have no %r image and are skipped: %s",
            len(orphans),
            reference,
            orphans.to_dict("records"),
        )
    merged = merged.loc[merged["_merge"] == "both"].drop(columns="_merge")
    if merged.empty:
        raise ValueError(f"no session has both a {reference!r} image and another image")

    if mean_tiv is None:
        mean_tiv = float(merged.drop_duplicates(id_cols)[tiv_col].mean())
        logger.info(
            "mean TIV over %d sessions: %.2f cm³",
            merged[id_cols].drop_duplicates().shape[0],
            mean_tiv,
        )
    elif not (np.isfinite(mean_tiv) and mean_tiv > 0):
        raise ValueError(f"mean_tiv must be a positive number, got {mean_tiv}")

    rows = []
    for tissue in tissues:
        part = merged[id_cols].copy()
        part["tissue"] = tissue
        part["comparison"] = merged[image_col].to_numpy()
        part["volume_reference"] = merged[f"{tissue}_ref"].to_numpy(dtype=np.float64)
        part["volume_compared"] = merged[tissue].to_numpy(dtype=np.float64)
        part["tiv_reference"] = merged[tiv_col].to_numpy(dtype=np.float64)
        rows.append(part)
    result = pd.concat(rows, ignore_index=True)
    result["mean_tiv"] = float(mean_tiv)
    result["rD"] = (
        (result["volume_reference"] - result["volume_compared"])
        / result["tiv_reference"]
        * result["mean_tiv"]
    )
    result["rAD"] = result["rD"].abs()
    return result


def summarize(
    table: pd.DataFrame,
    *,
    value: str = "rAD",
    by: Sequence[str] = ("tissue", "comparison"),
    ddof: int = 1,
) -> pd.DataFrame:
    """Number, mean and standard deviation of a column per group.

    Parameters
    ----------
    table : pandas.DataFrame
        Tidy table, e.g. from :func:`relative_differences`.
    value : str, default "rAD"
        Column to summarise.
    by : sequence of str, default ("tissue", "comparison")
        Grouping columns (add a test-set column to summarise each set separately).
    ddof : {1, 0}, default 1
        Delta degrees of freedom of the sd: 1 is the sample sd; 0 the population sd, which is
        the convention that reproduces the paper's Table 2.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, n, mean, sd``, groups in order of first appearance.

    Raises
    ------
    ValueError
        On missing columns, NaN values or a ``ddof`` other than 0 or 1.
    """
    by = list(by)
    if ddof not in (0, 1):
        raise ValueError(f"ddof must be 0 or 1, got {ddof}")
    _require_columns(table, [*by, value], "table")
    _require_finite(table, [value], "table")
    grouped = table.groupby(by, sort=False)[value]
    result = grouped.agg(n="count", mean="mean").reset_index()
    result["sd"] = grouped.std(ddof=ddof).to_numpy()
    return result


def _resolve_family(
    family_by: Sequence[str] | None, group_col: str | None, allowed: Sequence[str]
) -> list[str]:
    if family_by is None:
        return [group_col] if group_col else []
    family = list(family_by)
    unknown = [c for c in family if c not in allowed]
    if unknown:
        raise ValueError(
            f"family_by columns {unknown} are not among the test keys {list(allowed)}"
        )
    return family


def paired_ttests(
    table: pd.DataFrame,
    *,
    value: str = "rAD",
    baseline: str = "ce",
    comparison_col: str = "comparison",
    id_cols: Sequence[str] = DEFAULT_ID_COLS,
    strata: Sequence[str] = ("tissue",),
    group_col: str | None = None,
    family_by: Sequence[str] | None = None,
    method: str = "bonferroni",
    alpha: float = DEFAULT_ALPHA,
) -> pd.DataFrame:
    """Paired t-tests of the baseline against every other comparison, with p-value correction.

    Parameters
    ----------
    table : pandas.DataFrame
        Tidy table with one row per session x stratum x comparison (e.g. from
        :func:`relative_differences`).
    value : str, default "rAD"
        Column tested.
    baseline : str, default "ce"
        Value of ``comparison_col`` of the baseline (T1w-nce vs T1w-ce).
    comparison_col : str, default "comparison"
        Column naming what was compared with the reference.
    id_cols : sequence of str, default ("participant_id", "session_id")
        Columns identifying a session; baseline and model values are paired on them. Sessions
        present on one side only are left out of that test (logged as a warning).
    strata : sequence of str, default ("tissue",)
        Columns within which tests are made separately (``("metric",)`` for a long table of
        image similarity metrics, ``()`` for none).
    group_col : str, optional
        Column of independent sets of sessions (e.g. Test_good / Test_low), tested separately.
    family_by : sequence of str, optional
        Columns whose values define a family for the multiple-comparison correction; each
        family is corrected on its own. ``()`` corrects across all comparisons made in the call;
        ``(group_col, "tissue")`` corrects per test set and tissue. Default: per group when
        ``group_col`` is given, else all comparisons made; per test set is the family that
        reproduces the paper's Table 2 (3 tissues x 2 models = 6 tests).
    method : str, default "bonferroni"
        Any ``method`` of :func:`statsmodels.stats.multitest.multipletests`.
    alpha : float, default 0.01
        Significance threshold: ``significant`` is ``p_corrected < alpha``.

    Returns
    -------
    pandas.DataFrame
        One row per (group) x stratum x compared model, columns ``[group_col], *strata,
        comparison, baseline, n, mean_baseline, mean_compared, mean_difference, t, p,
        p_corrected, family_size, significant``. ``t > 0`` means the baseline's values are
        larger. Tests with fewer than 2 pairs get NaN statistics and stay out of the correction.

    Raises
    ------
    ValueError
        On missing columns, NaN values, duplicate rows, no baseline row, an alpha outside
        (0, 1) or ``family_by`` columns that are not test keys.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    keys = ([group_col] if group_col else []) + list(strata)
    pair_on = list(dict.fromkeys([*id_cols, *keys]))
    family = _resolve_family(family_by, group_col, [*keys, comparison_col])
    _require_columns(table, [*pair_on, comparison_col, value], "table")
    _require_finite(table, [value], "table")
    if table.duplicated([*pair_on, comparison_col]).any():
        raise ValueError(
            f"table has several rows for one session, {keys} and {comparison_col}; "
            "add the missing identifying column to id_cols or strata"
        )
    is_baseline = table[comparison_col] == baseline
    if not is_baseline.any():
        raise ValueError(f"no row has {comparison_col} == {baseline!r} (the baseline)")
    base = table.loc[is_baseline, [*pair_on, value]]
    others = table.loc[~is_baseline, [*pair_on, comparison_col, value]]

    records = []
    for comparison in others[comparison_col].drop_duplicates():
        compared = others.loc[others[comparison_col] == comparison, [*pair_on, value]]
        paired = base.merge(compared, on=pair_on, how="outer", suffixes=("_b", "_c"))
        unpaired = paired[f"{value}_b"].isna() | paired[f"{value}_c"].isna()
        if unpaired.any():
            logger.warning(
                "%d row(s) of %r or %r have no partner session and are left out of the t-tests",
                int(unpaired.sum()),
                baseline,
                comparison,
            )
        paired = paired.loc[~unpaired]
        groups = paired.groupby(keys, sort=False) if keys else [((), paired)]
        for key, part in groups:
            key = key if isinstance(key, tuple) else (key,)
            x = part[f"{value}_b"].to_numpy(dtype=np.float64)
            y = part[f"{value}_c"].to_numpy(dtype=np.float64)
            t, p = (np.nan, np.nan)
            if len(x) >= 2:
                result = ttest_rel(x, y)
                t, p = float(result.statistic), float(result.pvalue)
            record = dict(zip(keys, key, strict=True))
            record.update(
                {
                    "comparison": comparison,
                    "baseline": baseline,
                    "n": len(x),
                    "mean_baseline": float(x.mean()) if len(x) else np.nan,
                    "mean_compared": float(y.mean()) if len(y) else np.nan,
                    "mean_difference": float((x - y).mean()) if len(x) else np.nan,
                    "t": t,
                    "p": p,
                }
            )
            records.append(record)
    columns = [*keys, "comparison", "baseline", "n", "mean_baseline", "mean_compared"]
    columns += ["mean_difference", "t", "p"]
    tests = pd.DataFrame.from_records(records, columns=columns)
    order = {column: table[column].drop_duplicates().tolist() for column in keys}
    order["comparison"] = others[comparison_col].drop_duplicates().tolist()
    tests = _sort_by_appearance(tests, order)
    if comparison_col != "comparison":
        family = ["comparison" if c == comparison_col else c for c in family]
    return _correct(tests, family, method, alpha)


def _sort_by_appearance(frame: pd.DataFrame, order: dict[str, list]) -> pd.DataFrame:
    """Sort rows by the given columns, each in the given order of its values."""
    if frame.empty or not order:
        return frame.reset_index(drop=True)
    ranks = pd.DataFrame(
        {
            column: frame[column].map({v: i for i, v in enumerate(levels)})
            for column, levels in order.items()
        }
    )
    positions = ranks.sort_values(list(order), kind="stable").index
    return frame.loc[positions].reset_index(drop=True)


def _correct(tests: pd.DataFrame, family: list[str], method: str, alpha: float) -> pd.DataFrame:
    tests = tests.copy()
    tests["p_corrected"] = np.nan
    tests["family_size"] = 0
    untestable = ~np.isfinite(tests["p"].to_numpy(dtype=np.float64))
    if untestable.any():
        logger.warning("%d test(s) have no p-value (fewer than 2 pairs)", int(untestable.sum()))
    testable = tests.loc[~untestable]
    families = testable.groupby(family, sort=False) if family else [((), testable)]
    for _, members in families:
        corrected = multipletests(members["p"].to_numpy(), alpha=alpha, method=method)[1]
        tests.loc[members.index, "p_corrected"] = corrected
        tests.loc[members.index, "family_size"] = len(members)
    tests["significant"] = tests["p_corrected"] < alpha
    return tests


def summary_table(
    table: pd.DataFrame,
    *,
    value: str = "rAD",
    baseline: str = "ce",
    comparison_col: str = "comparison",
    id_cols: Sequence[str] = DEFAULT_ID_COLS,
    strata: Sequence[str] = ("tissue",),
    group_col: str | None = None,
    ddof: int = 1,
    family_by: Sequence[str] | None = None,
    method: str = "bonferroni",
    alpha: float = DEFAULT_ALPHA,
    decimals: int = 2,
    mark: str = "*",
) -> pd.DataFrame:
    """Table laid out like the paper's Table 2: ``mean ± sd`` per stratum, comparison and group.

    Parameters
    ----------
    table : pandas.DataFrame
        Tidy table, e.g. from :func:`relative_differences`.
    value, baseline, comparison_col, id_cols, strata, group_col, family_by, method, alpha
        As in :func:`paired_ttests`.
    ddof : {1, 0}, default 1
        As in :func:`summarize`; the paper's Table 2 used 0.
    decimals : int, default 2
        Decimals printed.
    mark : str, default "*"
        Appended (after a space) to a model's cell when its test against the baseline is
        significant.

    Returns
    -------
    pandas.DataFrame
        Columns ``*strata, comparison`` then one column per value of ``group_col`` (one column
        named after ``value`` without groups); the baseline row comes first in each stratum;
        cells are strings such as ``"10.32 ± 6.98 *"``, empty where there is no data. Means
        and sds use every row of a cell; the tests use the sessions paired with the baseline.
    """
    strata = list(strata)
    groups = [group_col] if group_col else []
    summary = summarize(table, value=value, by=[*groups, *strata, comparison_col], ddof=ddof)
    tests = paired_ttests(
        table,
        value=value,
        baseline=baseline,
        comparison_col=comparison_col,
        id_cols=id_cols,
        strata=strata,
        group_col=group_col,
        family_by=family_by,
        method=method,
        alpha=alpha,
    )
    summary = summary.rename(columns={comparison_col: "comparison"})
    summary = summary.merge(
        tests[[*groups, *strata, "comparison", "significant"]],
        on=[*groups, *strata, "comparison"],
        how="left",
    )
    significant = summary["significant"].eq(True)
    summary["cell"] = [
        f"{m:.{decimals}f} ± {s:.{decimals}f}" + (f" {mark}" if sig else "")
        for m, s, sig in zip(summary["mean"], summary["sd"], significant, strict=True)
    ]
    column = group_col if group_col else "_all"
    if not group_col:
        summary[column] = value
    order = [baseline] + [c for c in summary["comparison"].drop_duplicates() if c != baseline]
    wide = summary.pivot(index=[*strata, "comparison"], columns=column, values="cell")
    wide = wide.reindex(columns=list(summary[column].drop_duplicates())).fillna("")
    wide = wide.reset_index()
    wide.columns.name = None
    sort_keys = {c: summary[c].drop_duplicates().tolist() for c in strata}
    sort_keys["comparison"] = order
    return _sort_by_appearance(wide, sort_keys)
