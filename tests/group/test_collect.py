"""Reading the participant level's derivatives and the input dataset's grouping columns."""

from __future__ import annotations

import json

import pytest

from ce2nce_pipeline.group.collect import (
    collect_sessions,
    parse_source,
    read_volumes,
    session_covariate,
)

from .fake_derivatives import (
    MODEL,
    SP,
    labels_with_gm_thickness,
    write_pair_session,
    write_real,
    write_synthetic,
)


def test_collect_finds_each_image_and_its_stages(tmp_path):
    write_pair_session(tmp_path, "01")
    sessions, problems = collect_sessions(tmp_path)
    assert problems == []
    (session,) = sessions
    assert session.key == ("sub-01", "ses-M000")
    assert session.nce.source == "sub-01_ses-M000"
    assert [c.source for c in session.ce] == ["sub-01_ses-M000_ce-gadolinium"]
    synthetic = session.synthetic["sub-01_ses-M000_ce-gadolinium"]
    assert synthetic.kind == "synthetic"
    assert synthetic.missing() == []
    assert synthetic.mask.name.endswith("_desc-union_mask.nii.gz")
    assert session.nce.missing() == []
    assert set(session.union_masks) == {"sub-01_ses-M000_ce-gadolinium"}


def test_collect_without_sessions_and_with_filters(tmp_path):
    write_real(tmp_path, "sub-02", sub="02", ses=None)
    write_pair_session(tmp_path, "03")
    sessions, _ = collect_sessions(tmp_path)
    assert [s.key for s in sessions] == [("sub-02", "n/a"), ("sub-03", "ses-M000")]
    assert sessions[0].ce == ()
    only, _ = collect_sessions(tmp_path, participant_labels=["03"])
    assert [s.participant_id for s in only] == ["sub-03"]


def test_collect_finds_a_synthetic_whose_ce_crop_is_gone(tmp_path):
    write_synthetic(tmp_path, "sub-04_ses-M000_ce-gd", sub="04", ses="M000")
    (session,) = collect_sessions(tmp_path)[0]
    assert session.nce is None
    assert list(session.synthetic) == ["sub-04_ses-M000_ce-gd"]


def test_synthetic_image_without_a_real_nce_has_its_own_mask_not_a_missing_one(tmp_path):
    # No real T1w-nce in the session: no union mask is made, and none is missing.
    ce = "sub-05_ses-M000_ce-gd"
    write_real(tmp_path, ce, sub="05", ses="M000")
    labels = labels_with_gm_thickness(9)
    write_synthetic(tmp_path, ce, sub="05", ses="M000", labels=labels, union_mask=False)
    (session,) = collect_sessions(tmp_path)[0]
    synthetic = session.synthetic[ce]
    assert synthetic.missing() == []
    assert synthetic.mask.name == f"{ce}_{SP}_res-1x1x1_desc-syntheticbrain_mask.nii.gz"


def test_a_pair_without_its_union_mask_still_reports_the_mask_missing(tmp_path):
    write_real(tmp_path, "sub-06", sub="06", ses=None)
    write_real(tmp_path, "sub-06_ce-gd", sub="06", ses=None)
    labels = labels_with_gm_thickness(9)
    write_synthetic(tmp_path, "sub-06_ce-gd", sub="06", ses=None, labels=labels, union_mask=False)
    (session,) = collect_sessions(tmp_path)[0]
    assert session.synthetic["sub-06_ce-gd"].missing() == ["mask"]


def test_parse_source_and_read_volumes(tmp_path):
    assert parse_source("sub-01_ses-M000_acq-x_ce-gd_run-1") == {
        "sub": "01", "ses": "M000", "acq": "x", "ce": "gd", "run": "1",
    }  # fmt: skip
    with pytest.raises(ValueError):
        parse_source("sub-01_space-MNI")
    path = tmp_path / "v.tsv"
    path.write_text("GM_cm3\tWM_cm3\tCSF_cm3\tTIV_cm3\n1\t2\t3\t6\n")
    assert read_volumes(path) == {"GM": 1.0, "WM": 2.0, "CSF": 3.0, "TIV": 6.0}
    path.write_text("GM_cm3\tWM_cm3\n1\t2\n")
    with pytest.raises(ValueError, match="CSF_cm3"):
        read_volumes(path)


def test_session_covariate_order(tmp_path):
    bids, out = tmp_path / "bids", tmp_path / "out"
    for sub in ("01", "02", "03"):
        write_pair_session(out, sub, model=MODEL)
    (bids / "sub-01").mkdir(parents=True)
    (bids / "sub-01" / "sub-01_sessions.tsv").write_text("session_id\tquality\nses-M000\tgood\n")
    (bids / "participants.tsv").write_text(
        "participant_id\tquality\nsub-01\tlow\nsub-02\tlow\nsub-03\tn/a\n"
    )
    anat = bids / "sub-03" / "ses-M000" / "anat"
    anat.mkdir(parents=True)
    (anat / "sub-03_ses-M000_ce-gadolinium_T1w.json").write_text(json.dumps({"quality": "good"}))
    sessions, _ = collect_sessions(out)
    values, where = session_covariate(bids, sessions, "quality")
    assert values == {
        ("sub-01", "ses-M000"): "good",
        ("sub-02", "ses-M000"): "low",
        ("sub-03", "ses-M000"): "good",
    }
    assert where == "sessions.tsv"
    assert session_covariate(bids, sessions, "absent") == ({}, None)
