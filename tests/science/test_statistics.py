"""Tests of rAD/rD, summaries, paired t-tests and the Table-2-like layout.

Every fixture is built here from small hand-made numbers whose mean, sd and t are known.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t
from scipy.stats import ttest_rel
from statsmodels.stats.multitest import multipletests

from ce2nce_pipeline.science.statistics import (
    paired_ttests,
    relative_differences,
    summarize,
    summary_table,
)

ID = ["participant_id", "session_id"]


@pytest.fixture
def volumes() -> pd.DataFrame:
    rows = [
        # participant, image, GM, WM, CSF (cm3); TIV = GM + WM + CSF
        ("sub-01", "nce", 600.0, 500.0, 300.0),
        ("sub-01", "ce", 630.0, 480.0, 250.0),
        ("sub-01", "model", 605.0, 495.0, 310.0),
        ("sub-02", "nce", 700.0, 550.0, 350.0),
        ("sub-02", "ce", 690.0, 560.0, 300.0),
        ("sub-02", "model", 700.0, 540.0, 345.0),
    ]
    table = pd.DataFrame(rows, columns=["participant_id", "image", "GM", "WM", "CSF"])
    table.insert(1, "session_id", "ses-M000")
    table["TIV"] = table[["GM", "WM", "CSF"]].sum(axis=1)
    return table


def _row(result: pd.DataFrame, participant: str, tissue: str, comparison: str) -> pd.Series:
    selected = result[
        (result.participant_id == participant)
        & (result.tissue == tissue)
        & (result.comparison == comparison)
    ]
    assert len(selected) == 1
    return selected.iloc[0]


def test_relative_differences_hand_computed(volumes: pd.DataFrame) -> None:
    original = volumes.copy()
    result = relative_differences(volumes)
    pd.testing.assert_frame_equal(volumes, original)  # input untouched
    assert len(result) == 2 * 3 * 2  # sessions x tissues x compared images
    # TIV of the nce images: 1400 and 1600 -> mean TIV 1500.
    assert (result.mean_tiv == 1500.0).all()
    row = _row(result, "sub-01", "GM", "ce")
    assert row.rD == pytest.approx((600 - 630) / 1400 * 1500)  # -32.142857...
    assert row.rAD == pytest.approx(30 / 1400 * 1500)
    row = _row(result, "sub-02", "CSF", "ce")
    assert row.rD == pytest.approx((350 - 300) / 1600 * 1500)  # 46.875
    assert row.rAD == pytest.approx(46.875)
    row = _row(result, "sub-02", "WM", "model")
    assert row.rD == pytest.approx((550 - 540) / 1600 * 1500)
    assert row.volume_reference == 550.0 and row.volume_compared == 540.0
    assert row.tiv_reference == 1600.0


def test_mean_tiv_is_the_mean_over_sessions_not_rows(volumes: pd.DataFrame) -> None:
    # sub-03 (TIV 2000) has only a ce image: one row per tissue instead of two.
    extra = pd.DataFrame(
        [
            ("sub-03", "ses-M000", "nce", 900.0, 700.0, 400.0, 2000.0),
            ("sub-03", "ses-M000", "ce", 950.0, 650.0, 380.0, 1980.0),
        ],
        columns=volumes.columns,
    )
    result = relative_differences(pd.concat([volumes, extra], ignore_index=True))
    # (1400 + 1600 + 2000) / 3; a row-weighted mean would be 1600, as would the median.
    np.testing.assert_allclose(result.mean_tiv, 5000 / 3)
    assert _row(result, "sub-03", "GM", "ce").rD == pytest.approx(-50 / 2000 * 5000 / 3)


def test_relative_differences_given_mean_tiv(volumes: pd.DataFrame) -> None:
    result = relative_differences(volumes, mean_tiv=1450.0)
    row = _row(result, "sub-01", "WM", "ce")
    assert row.rD == pytest.approx((500 - 480) / 1400 * 1450)
    with pytest.raises(ValueError, match="mean_tiv"):
        relative_differences(volumes, mean_tiv=0.0)


def test_relative_differences_skips_sessions_without_reference(
    volumes: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    extra = pd.DataFrame(
        [
            {
                "participant_id": "sub-03",
                "session_id": "ses-M000",
                "image": "ce",
                "GM": 1.0,
                "WM": 1.0,
                "CSF": 1.0,
                "TIV": 3.0,
            },
            {  # a reference without compared image does not enter the mean TIV
                "participant_id": "sub-04",
                "session_id": "ses-M000",
                "image": "nce",
                "GM": 1000.0,
                "WM": 1000.0,
                "CSF": 1000.0,
                "TIV": 3000.0,
            },
        ]
    )
    with caplog.at_level(logging.WARNING):
        result = relative_differences(pd.concat([volumes, extra], ignore_index=True))
    assert "sub-03" in caplog.text
    assert set(result.participant_id) == {"sub-01", "sub-02"}
    assert (result.mean_tiv == 1500.0).all()


def test_relative_differences_bad_inputs(volumes: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="several rows"):
        relative_differences(pd.concat([volumes, volumes.iloc[:1]]))
    broken = volumes.copy()
    broken.loc[2, "GM"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        relative_differences(broken)
    with pytest.raises(ValueError, match="lacks column"):
        relative_differences(volumes.drop(columns="TIV"))
    with pytest.raises(ValueError, match="no session"):
        relative_differences(volumes, reference="t2w")


def test_summarize_known_mean_and_sd() -> None:
    values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]  # mean 5, population sd 2
    table = pd.DataFrame({"tissue": "GM", "comparison": "ce", "rAD": values})
    population = summarize(table, ddof=0).iloc[0]
    assert population.n == 8
    assert population["mean"] == pytest.approx(5.0)
    assert population.sd == pytest.approx(2.0)
    sample = summarize(table).iloc[0]
    assert sample.sd == pytest.approx(math.sqrt(32 / 7))
    with pytest.raises(ValueError, match="ddof"):
        summarize(table, ddof=2)


def _paired_table(baseline: list[float], model: list[float], **extra: str) -> pd.DataFrame:
    n = len(baseline)
    ids = [f"sub-{i:02d}" for i in range(n)]
    frame = pd.DataFrame(
        {
            "participant_id": ids * 2,
            "session_id": "ses-M000",
            "comparison": ["ce"] * n + ["model"] * n,
            "rAD": baseline + model,
        }
    )
    for column, value in extra.items():
        frame[column] = value
    return frame


def test_paired_ttest_hand_computed() -> None:
    table = _paired_table([3.0, 5.0, 7.0, 9.0], [1.0, 2.0, 4.0, 4.0], tissue="GM")
    result = paired_ttests(table).iloc[0]
    # d = [2, 3, 3, 5]: mean 3.25, sample variance 4.75 / 3, t = 3.25 / sqrt(4.75 / 3 / 4)
    t_expected = 3.25 / math.sqrt(4.75 / 3 / 4)
    assert result.t == pytest.approx(t_expected)  # 5.1657...
    assert result.p == pytest.approx(2 * student_t.sf(t_expected, df=3))
    assert result.n == 4
    assert result.mean_baseline == pytest.approx(6.0)
    assert result.mean_compared == pytest.approx(2.75)
    assert result.mean_difference == pytest.approx(3.25)
    assert result.family_size == 1
    assert result.p_corrected == pytest.approx(result.p)


def test_significance_threshold_is_strict_on_corrected_p() -> None:
    table = _paired_table([3.0, 5.0, 7.0, 9.0], [1.0, 2.0, 4.0, 4.0], tissue="GM")
    result = paired_ttests(table).iloc[0]
    assert 0.01 < result.p_corrected < 0.05  # t = 5.17 on 3 degrees of freedom
    assert not result.significant
    assert paired_ttests(table, alpha=0.05).iloc[0].significant
    assert not summary_table(table).rAD[1].endswith("*")
    assert summary_table(table, alpha=0.05).rAD[1].endswith(" *")


@pytest.fixture(scope="module")
def two_sets() -> pd.DataFrame:
    """Two test sets x three tissues x two models, seeded; baseline errors larger in GM/CSF."""
    rng = np.random.default_rng(42)
    frames = []
    for test_set, n in (("good", 12), ("low", 20)):
        for tissue, gap in (("GM", 8.0), ("WM", 0.6), ("CSF", 20.0)):
            baseline = np.abs(rng.normal(10.0 + gap, 4.0, n))
            for model in ("ce", "att", "cgan"):
                values = baseline if model == "ce" else np.abs(rng.normal(10.0, 4.0, n))
                frames.append(
                    pd.DataFrame(
                        {
                            "participant_id": [f"{test_set}-{i}" for i in range(n)],
                            "session_id": "ses-1",
                            "test_set": test_set,
                            "tissue": tissue,
                            "comparison": model,
                            "rAD": values,
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)


def test_paired_ttests_match_scipy_and_statsmodels(two_sets: pd.DataFrame) -> None:
    result = paired_ttests(two_sets, group_col="test_set")
    assert len(result) == 2 * 3 * 2
    assert list(result.columns[:3]) == ["test_set", "tissue", "comparison"]
    assert list(result.tissue[:6]) == ["GM", "GM", "WM", "WM", "CSF", "CSF"]
    for test_set, family in result.groupby("test_set"):
        raw = []
        for _, row in family.iterrows():
            pick = (two_sets.test_set == test_set) & (two_sets.tissue == row.tissue)
            x = two_sets[pick & (two_sets.comparison == "ce")].rAD.to_numpy()
            y = two_sets[pick & (two_sets.comparison == row.comparison)].rAD.to_numpy()
            expected = ttest_rel(x, y)
            assert row.t == pytest.approx(expected.statistic, rel=1e-12)
            assert row.p == pytest.approx(expected.pvalue, rel=1e-12)
            raw.append(expected.pvalue)
        # Default family: one test set (3 tissues x 2 models = 6 tests).
        corrected = multipletests(raw, method="bonferroni")[1]
        np.testing.assert_allclose(family.p_corrected, corrected, rtol=1e-12)
        np.testing.assert_allclose(family.p_corrected, np.minimum(1, 6 * np.array(raw)))
        assert (family.family_size == 6).all()
        assert (family.significant == (family.p_corrected < 0.01)).all()


@pytest.mark.parametrize(
    ("family_by", "size"),
    [((), 12), (("test_set", "tissue"), 2), (("test_set", "comparison"), 3), (("tissue",), 4)],
)
def test_bonferroni_family_options(two_sets: pd.DataFrame, family_by: tuple, size: int) -> None:
    result = paired_ttests(two_sets, group_col="test_set", family_by=family_by)
    assert (result.family_size == size).all()
    np.testing.assert_allclose(result.p_corrected, np.minimum(1.0, size * result.p))


def test_other_correction_methods_are_passed_on(two_sets: pd.DataFrame) -> None:
    result = paired_ttests(two_sets, group_col="test_set", method="holm")
    good = result[result.test_set == "good"]
    np.testing.assert_allclose(good.p_corrected, multipletests(good.p, method="holm")[1])


def test_unpaired_and_too_small_tests(caplog: pytest.LogCaptureFixture) -> None:
    table = pd.concat(
        [
            _paired_table([3.0, 5.0, 7.0, 9.0], [1.0, 2.0, 4.0, 4.0], tissue="GM"),
            _paired_table([1.0], [2.0], tissue="WM"),
        ],
        ignore_index=True,
    )
    table = table.drop(index=0)  # sub-00's baseline GM value is missing
    with caplog.at_level(logging.WARNING):
        result = paired_ttests(table)
    assert "no partner" in caplog.text
    gm = result[result.tissue == "GM"].iloc[0]
    d = np.array([5.0 - 2.0, 7.0 - 4.0, 9.0 - 4.0])
    assert gm.n == 3
    assert gm.t == pytest.approx(d.mean() / (d.std(ddof=1) / math.sqrt(3)))
    wm = result[result.tissue == "WM"].iloc[0]
    assert wm.n == 1 and math.isnan(wm.p) and not wm.significant
    assert gm.family_size == 1  # the untestable WM test is left out of the family


def test_paired_ttests_bad_inputs(two_sets: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="baseline"):
        paired_ttests(two_sets, baseline="nce")
    with pytest.raises(ValueError, match="family_by"):
        paired_ttests(two_sets, group_col="test_set", family_by=("site",))
    with pytest.raises(ValueError, match="alpha"):
        paired_ttests(two_sets, alpha=1.5)
    # Participant labels repeat across test sets: pairing needs the group column.
    reused = two_sets.assign(participant_id=two_sets.participant_id.str.split("-").str[1])
    with pytest.raises(ValueError, match="several rows"):
        paired_ttests(reused)
    pd.testing.assert_frame_equal(
        paired_ttests(reused, group_col="test_set"), paired_ttests(two_sets, group_col="test_set")
    )
    broken = two_sets.copy()
    broken.loc[0, "rAD"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        paired_ttests(broken, group_col="test_set")


def test_metric_table_without_tissues() -> None:
    # Image similarity: one stratum per metric, no tissue column.
    table = pd.concat(
        [
            _paired_table([3.0, 5.0, 7.0, 9.0], [1.0, 2.0, 4.0, 4.0], metric="mae"),
            _paired_table([20.0, 21.0, 23.0, 22.0], [25.0, 27.0, 26.0, 29.0], metric="psnr"),
        ],
        ignore_index=True,
    )
    result = paired_ttests(table, value="rAD", strata=("metric",))
    assert list(result.metric) == ["mae", "psnr"]
    assert (result.family_size == 2).all()
    assert result.t.iloc[1] < 0  # the model has the larger PSNR


def test_summary_table_layout_and_marks() -> None:
    baseline_wm = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]  # 5.00 ± 2.14 (ddof 1), ± 2.00 (0)
    model_wm = [3.0, 5.0, 3.0, 5.0, 4.0, 6.0, 6.0, 8.0]  # close to baseline: no mark
    baseline_gm = [30.0, 32.0, 35.0, 31.0, 29.0, 33.0, 34.0, 36.0]
    model_gm = [3.0, 2.0, 4.0, 1.0, 2.0, 3.0, 5.0, 4.0]  # far below baseline: mark
    table = pd.concat(
        [
            _paired_table(baseline_gm, model_gm, tissue="GM"),
            _paired_table(baseline_wm, model_wm, tissue="WM"),
        ],
        ignore_index=True,
    )
    wide = summary_table(table)
    assert list(wide.columns) == ["tissue", "comparison", "rAD"]
    assert list(zip(wide.tissue, wide.comparison, strict=True)) == [
        ("GM", "ce"),
        ("GM", "model"),
        ("WM", "ce"),
        ("WM", "model"),
    ]
    assert wide.rAD[2] == "5.00 ± 2.14"
    assert wide.rAD[1].endswith(" *")
    assert wide.rAD[1] == f"{np.mean(model_gm):.2f} ± {np.std(model_gm, ddof=1):.2f} *"
    assert not wide.rAD[3].endswith("*")
    assert summary_table(table, ddof=0).rAD[2] == "5.00 ± 2.00"


def test_summary_table_with_groups(two_sets: pd.DataFrame) -> None:
    wide = summary_table(two_sets, group_col="test_set", ddof=0, decimals=1)
    assert list(wide.columns) == ["tissue", "comparison", "good", "low"]
    assert list(wide.comparison[:3]) == ["ce", "att", "cgan"]
    tests = paired_ttests(two_sets, group_col="test_set")
    for _, test in tests.iterrows():
        cell = wide[(wide.tissue == test.tissue) & (wide.comparison == test.comparison)]
        assert cell[test.test_set].iloc[0].endswith("*") == bool(test.significant)
    subset = two_sets[
        (two_sets.test_set == "low") & (two_sets.tissue == "CSF") & (two_sets.comparison == "ce")
    ]
    expected = f"{subset.rAD.mean():.1f} ± {subset.rAD.std(ddof=0):.1f}"
    assert wide[(wide.tissue == "CSF") & (wide.comparison == "ce")]["low"].iloc[0] == expected


def test_end_to_end_from_volumes(volumes: pd.DataFrame) -> None:
    rd = relative_differences(volumes)
    tests = paired_ttests(rd)
    assert set(tests.comparison) == {"model"}
    assert list(tests.tissue) == ["GM", "WM", "CSF"]
    gm = rd[rd.tissue == "GM"]
    x = gm[gm.comparison == "ce"].rAD.to_numpy()
    y = gm[gm.comparison == "model"].rAD.to_numpy()
    assert tests.t.iloc[0] == pytest.approx(ttest_rel(x, y).statistic)
