"""The paper's validation on fake pairs: rD/rAD, t-tests, Dice, similarity, groups."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ttest_rel
from statsmodels.stats.multitest import multipletests

from ce2nce_pipeline.group.collect import collect_sessions
from ce2nce_pipeline.group.validation import ValidationOptions, validate
from ce2nce_pipeline.science.metrics import image_similarity

from .fake_derivatives import MODEL, labels_with_gm_thickness, write_pair_session, write_real

# nce, ce, synthetic volumes (GM, WM, CSF) of four sessions.
VOLUMES = {
    "01": ((600, 450, 250), (630, 440, 190), (605, 448, 240)),
    "02": ((500, 400, 300), (540, 380, 250), (498, 405, 290)),
    "03": ((550, 500, 200), (575, 505, 150), (560, 490, 195)),
    "04": ((580, 420, 260), (620, 415, 205), (570, 430, 262)),
}


@pytest.fixture()
def four_pairs(tmp_path):
    for seed, (sub, (nce, ce, syn)) in enumerate(VOLUMES.items()):
        write_pair_session(tmp_path, sub, nce_volumes=nce, ce_volumes=ce,
                           synthetic_volumes=syn, seed=seed)  # fmt: skip
    return collect_sessions(tmp_path)[0]


def test_relative_differences_by_hand(four_pairs):
    result = validate(four_pairs)
    assert result.problems == []
    mean_tiv = np.mean([sum(v[0]) for v in VOLUMES.values()])  # 1300, 1200, 1250, 1260
    rel = result.relative.set_index(["participant_id", "tissue", "comparison"])
    row = rel.loc[("sub-01", "GM", "ce")]
    assert row["mean_tiv"] == pytest.approx(1252.5)
    assert mean_tiv == pytest.approx(1252.5)
    assert row["rD"] == pytest.approx((600 - 630) / 1300 * 1252.5)
    assert row["rAD"] == pytest.approx(30 / 1300 * 1252.5)
    csf = rel.loc[("sub-02", "CSF", MODEL["Architecture"])]
    assert csf["rD"] == pytest.approx((300 - 290) / 1200 * 1252.5)
    assert len(result.relative) == 4 * 3 * 2


def test_ttests_match_scipy_and_statsmodels(four_pairs):
    result = validate(four_pairs)
    rel = result.relative
    tests = result.ttests["rAD"].set_index("tissue")
    raw = []
    for tissue in ("GM", "WM", "CSF"):
        part = rel.loc[rel["tissue"] == tissue].sort_values("participant_id")
        ce = part.loc[part["comparison"] == "ce", "rAD"].to_numpy()
        syn = part.loc[part["comparison"] == MODEL["Architecture"], "rAD"].to_numpy()
        expected = ttest_rel(ce, syn)
        assert tests.loc[tissue, "t"] == pytest.approx(expected.statistic)
        assert tests.loc[tissue, "p"] == pytest.approx(expected.pvalue)
        raw.append(expected.pvalue)
    corrected = multipletests(raw, method="bonferroni")[1]
    assert tests.loc[["GM", "WM", "CSF"], "p_corrected"].to_numpy() == pytest.approx(corrected)
    assert (tests["family_size"] == 3).all()
    table2 = result.tables["table2_rAD"]
    assert list(table2.columns) == ["tissue", "comparison", "rAD"]
    assert list(table2["comparison"][:2]) == ["ce", MODEL["Architecture"]]


def test_summary_sd_convention_is_an_option(four_pairs):
    sample = validate(four_pairs).tables["table2_rAD"]
    paper = validate(four_pairs, options=ValidationOptions(ddof=0)).tables["table2_rAD"]
    rel = validate(four_pairs).relative
    gm_ce = rel.loc[(rel["tissue"] == "GM") & (rel["comparison"] == "ce"), "rAD"]
    assert sample.iloc[0]["rAD"].startswith(f"{gm_ce.mean():.2f} ± {gm_ce.std(ddof=1):.2f}")
    assert paper.iloc[0]["rAD"].startswith(f"{gm_ce.mean():.2f} ± {gm_ce.std(ddof=0):.2f}")


def test_dice_on_known_masks(four_pairs):
    dice = validate(four_pairs).dice
    first = dice.loc[dice["participant_id"] == "sub-01"].set_index(["tissue", "comparison"])
    # GM: nce x < 10 (4000 voxels), ce x < 8 (3200), synthetic x < 9 (3600); WM, CSF equal.
    assert first.loc[("GM", "ce"), "dice"] == pytest.approx(2 * 3200 / 7200)
    assert first.loc[("GM", MODEL["Architecture"]), "dice"] == pytest.approx(2 * 3600 / 7600)
    assert first.loc[("WM", "ce"), "dice"] == pytest.approx(1.0)
    assert first.loc[("CSF", MODEL["Architecture"]), "dice"] == pytest.approx(1.0)
    assert labels_with_gm_thickness(10).shape == (20, 20, 20)


def test_similarity_uses_the_union_mask(four_pairs):
    import nibabel as nib

    result = validate(four_pairs)
    session = four_pairs[0]
    ce = session.ce[0]
    mask = nib.load(session.union_masks[ce.source]).get_fdata() > 0.5
    expected = image_similarity(
        nib.load(session.nce.image).get_fdata(), nib.load(ce.image).get_fdata(), mask
    )
    sim = result.similarity
    got = sim.loc[(sim["participant_id"] == "sub-01") & (sim["comparison"] == "ce")]
    assert got.set_index("metric")["value"].to_dict() == pytest.approx(
        {"MAE_percent": expected.mae_percent, "PSNR_dB": expected.psnr_db, "SSIM": expected.ssim}
    )
    assert set(result.tables) == {"table1_similarity", "table2_rAD", "table3_dice"}


def test_groups_give_one_column_each(four_pairs):
    groups = {s.key: ("good" if s.participant_id < "sub-03" else "low") for s in four_pairs}
    result = validate(four_pairs, group_by="quality", groups=groups)
    table2 = result.tables["table2_rAD"]
    assert list(table2.columns) == ["tissue", "comparison", "good", "low"]
    assert set(result.relative["quality"]) == {"good", "low"}
    tests = result.ttests["rAD"]
    assert (tests["family_size"] == 3).all()  # one Bonferroni family per group


def test_pair_missing_stages_is_reported(tmp_path):
    write_pair_session(tmp_path, "01", synthetic_volumes=None)
    write_real(tmp_path, "sub-02_ses-M000", sub="02", ses="M000", volumes=None)
    write_real(tmp_path, "sub-02_ses-M000_ce-gd", sub="02", ses="M000", mask=False)
    sessions = collect_sessions(tmp_path)[0]
    result = validate(sessions)
    text = "\n".join(result.problems)
    assert "sub-01 ses-M000 sub-01_ses-M000_ce-gadolinium: no synthetic" in text
    assert "sub-02 ses-M000 sub-02_ses-M000_ce-gd: no similarity" in text
    assert "no Dice" in text
    # sub-01's ce baseline is still measured.
    assert set(result.relative["participant_id"]) == {"sub-01"}
    assert set(result.relative["comparison"]) == {"ce"}


def _flag_registration(output_dir, sub: str, score: float, consistency: float) -> None:
    """Record a flagged t1-linear registration in a session's T1w-ce sidecar."""
    import json

    from .fake_derivatives import SP, folder_of

    sidecar = folder_of(output_dir, sub, "M000") / (
        f"sub-{sub}_ses-M000_ce-gadolinium_{SP}_res-1x1x1_desc-Crop_T1w.json"
    )
    content = json.loads(sidecar.read_text(encoding="utf-8"))
    content.update(RegistrationQuality=score, RegistrationFlagged=True,
                   PairConsistencyMM=consistency)  # fmt: skip
    sidecar.write_text(json.dumps(content), encoding="utf-8")


def test_a_flagged_registration_is_kept_out_unless_asked(tmp_path):
    from ce2nce_pipeline.group.features import feature_table

    for seed, (sub, (nce, ce, syn)) in enumerate(VOLUMES.items()):
        write_pair_session(tmp_path, sub, nce_volumes=nce, ce_volumes=ce,
                           synthetic_volumes=syn, seed=seed)  # fmt: skip
    _flag_registration(tmp_path, "02", 1.03, 0.4)
    sessions = collect_sessions(tmp_path)[0]
    result = validate(sessions)
    pairs = result.pairs.set_index("participant_id")
    assert bool(pairs.loc["sub-02", "registration_flagged"])
    assert pairs.loc["sub-02", "qc_registration_ce"] == 1.03
    assert pairs.loc["sub-02", "pair_consistency_mm"] == 0.4
    assert not pairs.loc["sub-01", "registration_flagged"]
    assert "sub-02" not in set(result.volumes["participant_id"])  # out of every measure
    assert any("sub-02" in p and "--include-flagged" in p for p in result.problems)
    kept = validate(sessions, options=ValidationOptions(include_flagged=True))
    assert "sub-02" in set(kept.volumes["participant_id"])
    # features.tsv keeps the row and says it is flagged (its source, the nce, is not).
    features, _ = feature_table(sessions, tmp_path)
    assert "qc_registration_flagged" in features.columns
