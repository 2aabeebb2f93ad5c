"""The homogenised feature table."""

from __future__ import annotations

import json

import pytest

from ce2nce_pipeline.group.collect import collect_sessions
from ce2nce_pipeline.group.features import FEATURE_COLUMNS, FEATURE_SIDECAR, feature_table

from .fake_derivatives import MODEL, OTHER_MODEL, write_pair_session, write_real, write_synthetic


def _table(tmp_path):
    sessions, _ = collect_sessions(tmp_path)
    return feature_table(sessions, tmp_path)


def test_real_nce_is_preferred_to_synthetic(tmp_path):
    write_pair_session(tmp_path, "01", nce_volumes=(600, 450, 250), synthetic_volumes=(1, 2, 3))
    table, problems = _table(tmp_path)
    assert problems == []
    row = table.iloc[0]
    assert (row["GM_cm3"], row["WM_cm3"], row["CSF_cm3"], row["TIV_cm3"]) == (600, 450, 250, 1300)
    assert row["source_kind"] == "nce" and not row["synthetic"]
    assert row["source_image"] == (
        "sub-01/ses-M000/anat/sub-01_ses-M000_space-MNI152NLin2009cSym_res-1x1x1_desc-Crop_T1w.nii.gz"
    )
    assert row[["model_architecture", "model_sha256"]].isna().all()


def test_synthetic_is_used_without_a_real_nce(tmp_path):
    ce = "sub-02_ses-M000_ce-gd"
    write_real(tmp_path, ce, sub="02", ses="M000", volumes=(700, 400, 100))
    write_synthetic(tmp_path, ce, sub="02", ses="M000", volumes=(610, 440, 260))
    table, problems = _table(tmp_path)
    assert problems == []
    row = table.iloc[0]
    assert row["TIV_cm3"] == pytest.approx(1310)
    assert row["GM_cm3"] == 610
    assert bool(row["synthetic"]) and row["source_kind"] == "synthetic"
    assert "desc-synthetic" in row["source_image"]
    assert row["model_architecture"] == MODEL["Architecture"]
    assert row["model_sha256"] == MODEL["WeightsSha256"]
    assert row["model_name"] == "ce2nce-default"
    assert row.isna()["model_checkpoint"]  # the shipped model: no path of the machine that ran
    assert list(table.columns) == list(FEATURE_COLUMNS)


def test_a_users_model_is_named_with_its_relative_checkpoint(tmp_path):
    ce = "sub-02_ses-M000_ce-gd"
    write_real(tmp_path, ce, sub="02", ses="M000")
    write_synthetic(tmp_path, ce, sub="02", ses="M000", model=OTHER_MODEL)
    row = _table(tmp_path)[0].iloc[0]
    assert (row["model_name"], row["model_checkpoint"]) == ("res", "models/res")


def test_sidecar_describes_every_column():
    assert set(FEATURE_SIDECAR) == set(FEATURE_COLUMNS)
    assert all(entry["Description"] for entry in FEATURE_SIDECAR.values())


def test_missing_volumes_and_mixed_models_are_reported(tmp_path):
    write_real(tmp_path, "sub-01_ses-M000", sub="01", ses="M000", volumes=None)  # no segmentation
    for sub, model in (("02", MODEL), ("03", OTHER_MODEL)):
        ce = f"sub-{sub}_ses-M000_ce-gd"
        write_real(tmp_path, ce, sub=sub, ses="M000")
        write_synthetic(tmp_path, ce, sub=sub, ses="M000", model=model)
    table, problems = _table(tmp_path)
    assert list(table["participant_id"]) == ["sub-02", "sub-03"]
    assert any("sub-01" in p and "skipped" in p for p in problems)
    assert any("mixes 2 translation models" in p for p in problems)


def _add_detection(output_dir, sub, src, probability, mismatch):
    from .fake_derivatives import SP, folder_of

    sidecar = folder_of(output_dir, sub, "M000") / f"{src}_{SP}_res-1x1x1_desc-Crop_T1w.json"
    content = json.loads(sidecar.read_text())
    content["GadoliniumProbability"] = probability
    content["GadoliniumDetection"] = {"ContrastMismatch": mismatch, "Threshold": 0.5}
    sidecar.write_text(json.dumps(content))


def test_an_enhanced_looking_real_nce_is_flagged(tmp_path):
    """The volumes come from a T1w-nce the detector calls enhanced: the row says so."""
    write_real(tmp_path, "sub-03_ses-M000", sub="03", ses="M000")
    _add_detection(tmp_path, "03", "sub-03_ses-M000", 0.97, True)
    ce = "sub-04_ses-M000_ce-gd"
    write_real(tmp_path, ce, sub="04", ses="M000")
    write_synthetic(tmp_path, ce, sub="04", ses="M000")
    _add_detection(tmp_path, "04", ce, 0.99, False)
    table, _ = _table(tmp_path)
    rows = table.set_index("participant_id")
    assert rows.loc["sub-03", "gadolinium_probability"] == pytest.approx(0.97)
    assert bool(rows.loc["sub-03", "qc_contrast_mismatch"]) is True
    # A synthetic source: the probability of the T1w-ce it was translated from.
    assert rows.loc["sub-04", "gadolinium_probability"] == pytest.approx(0.99)
    assert bool(rows.loc["sub-04", "qc_contrast_mismatch"]) is False


def test_no_detection_gives_empty_cells(tmp_path):
    write_real(tmp_path, "sub-05_ses-M000", sub="05", ses="M000")
    _add_detection(tmp_path, "05", "sub-05_ses-M000", "n/a", "n/a")
    row = _table(tmp_path)[0].iloc[0]
    assert row.isna()["gadolinium_probability"] and row.isna()["qc_contrast_mismatch"]
