"""run_group end to end on fake derivatives: outputs, partial outputs, no outputs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ce2nce_pipeline.cli.group import run_group
from ce2nce_pipeline.config import RunConfig
from ce2nce_pipeline.errors import Ce2nceError

from .fake_derivatives import OTHER_MODEL, write_pair_session, write_real, write_synthetic


def _config(tmp_path):
    bids = tmp_path / "bids"
    bids.mkdir(exist_ok=True)
    return RunConfig(bids_dir=bids, output_dir=tmp_path / "out", analysis_level="group")


def test_complete_run_writes_every_output(tmp_path, capsys):
    config = _config(tmp_path)
    for seed, sub in enumerate(("01", "02", "03")):
        write_pair_session(config.output_dir, sub, seed=seed, ce_volumes=(630 + seed, 440, 190))
    (config.bids_dir / "participants.tsv").write_text(
        "participant_id\tquality\nsub-01\tgood\nsub-02\tgood\nsub-03\tlow\n"
    )
    assert run_group(config, group_by="quality") == 0
    group = config.output_dir / "group"
    features = pd.read_csv(group / "features.tsv", sep="\t")
    assert len(features) == 3 and (features["source_kind"] == "nce").all()
    assert set(json.loads((group / "features.json").read_text())) == set(features.columns)
    validation = {p.name for p in (group / "validation").iterdir()}
    assert {
        "pairs.tsv", "similarity.tsv", "volumes.tsv", "dice.tsv", "relative_differences.tsv",
        "ttests_rAD.tsv", "table1_similarity.tsv", "table2_rAD.tsv", "table3_dice.tsv",
    } <= validation  # fmt: skip
    table2 = pd.read_csv(group / "validation" / "table2_rAD.tsv", sep="\t")
    assert list(table2.columns) == ["tissue", "comparison", "good", "low"]
    figures = {p.name for p in (group / "figures").iterdir()}
    for name in ("relative_differences_rD", "example_slices", "volume_scatter"):
        assert {f"{name}.png", f"{name}.svg"} <= figures
    assert "3 session(s) in features.tsv, 3 ce/nce pair(s)" in capsys.readouterr().err


def test_missing_stages_and_mixed_models_give_messages_and_partial_output(tmp_path, capsys):
    config = _config(tmp_path)
    out = config.output_dir
    write_pair_session(out, "01")
    write_pair_session(out, "02", model=OTHER_MODEL)
    write_real(out, "sub-03_ses-M000_ce-gd", sub="03", ses="M000")  # ce only, never translated
    write_real(out, "sub-04_ses-M000", sub="04", ses="M000", volumes=None)  # not segmented
    write_synthetic(out, "sub-05_ses-M000_ce-gd", sub="05", ses="M000", volumes=None)
    assert run_group(config, group_by="quality") == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("ce2nce group: warning:")]
    assert any("sub-03 ses-M000: no real T1w-nce and no synthetic" in line for line in lines)
    assert any("sub-04 ses-M000: skipped in features.tsv" in line for line in lines)
    assert any("sub-05 ses-M000: skipped in features.tsv" in line for line in lines)
    assert any("come from 2 translation models" in line for line in lines)
    assert any("'quality' is in no sessions.tsv" in line for line in lines)
    features = pd.read_csv(out / "group" / "features.tsv", sep="\t")
    assert list(features["participant_id"]) == ["sub-01", "sub-02"]
    rel = pd.read_csv(out / "group" / "validation" / "relative_differences.tsv", sep="\t")
    assert rel["comparison"].nunique() == 3  # ce and one label per model
    assert (out / "group" / "figures" / "relative_differences_rD.png").stat().st_size > 0


def test_no_participant_outputs_raise(tmp_path):
    config = _config(tmp_path)
    config.output_dir.mkdir()
    with pytest.raises(Ce2nceError, match="no participant-level outputs"):
        run_group(config)
