"""The default model's data: simulated pairs on a fixed plan, held-out pairs kept apart."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
import pytest

from ce2nce_pipeline.cli.training_set import main
from ce2nce_pipeline.simulation.base_images import HELD_OUT_BASE, HELD_OUT_SEEDS, TRAINING_BASES
from ce2nce_pipeline.simulation.training_set import TrainingSetPlan, build_training_set
from ce2nce_pipeline.training.pairs import read_pairs_tsv


def test_plan_keeps_the_held_out_base_and_seeds_out_of_training():
    plan = TrainingSetPlan(n_train=40, n_validation=6, n_test_good=20, n_test_low=10)
    specs = plan.pairs()
    assert specs == plan.pairs()  # a pure function of the plan
    fit = [s for s in specs if s.split in ("train", "validation")]
    test = [s for s in specs if s.split.startswith("test_")]
    assert len(fit) == 46 and len(test) == 30
    assert {s.base for s in fit} == set(TRAINING_BASES)
    assert {s.base for s in test} == {HELD_OUT_BASE}
    assert {s.seed for s in test} <= set(HELD_OUT_SEEDS)
    assert not {s.seed for s in fit} & set(HELD_OUT_SEEDS)
    assert len({s.pair_id for s in specs}) == len(specs)
    assert [s.quality for s in test].count("low") == 10
    # The low-quality fraction is honoured on the training pairs (30 % by default).
    low = sum(s.quality == "low" for s in fit) / len(fit)
    assert 0.15 < low < 0.45


def test_plan_rejects_impossible_counts():
    with pytest.raises(ValueError, match="held-out"):
        TrainingSetPlan(n_test_good=40, n_test_low=20)
    with pytest.raises(ValueError, match="n_train"):
        TrainingSetPlan(n_train=0)


@pytest.mark.slow
def test_build_writes_pairs_tables_and_resumes(tmp_path, colin27_2mm):
    work = tmp_path / "work"
    (work / "bases").mkdir(parents=True)
    # Cached t1-linear bases (the real ones take 25 s each): the 2 mm Colin27 in MNI space.
    for name in (*TRAINING_BASES, HELD_OUT_BASE):
        shutil.copyfile(colin27_2mm, work / "bases" / f"{name}_T1w.nii.gz")
    plan = TrainingSetPlan(n_train=2, n_validation=1, n_test_good=1, n_test_low=1)
    tables = build_training_set(work, plan)
    pairs = read_pairs_tsv(tables["pairs"])
    assert [p.split for p in pairs] == ["train", "train", "validation"]
    (test_low,) = read_pairs_tsv(tables["test_low"])
    for pair in [*pairs, test_low]:
        ce = nib.load(pair.ce).get_fdata()
        nce = nib.load(pair.nce).get_fdata()
        mask = nib.load(pair.mask).get_fdata() > 0
        assert ce.shape == nce.shape == mask.shape
        assert 0.05 < mask.mean() < 0.6
        # Gadolinium made the ce brighter somewhere in the brain.
        assert np.percentile(ce[mask] - nce[mask], 99.9) > 0.05 * np.median(nce[mask])
    mtimes = {p: p.stat().st_mtime_ns for p in (work / "pairs").iterdir()}
    build_training_set(work, plan)
    assert {p: p.stat().st_mtime_ns for p in (work / "pairs").iterdir()} == mtimes


def test_cli_rejects_bad_counts(tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main([str(tmp_path), "--n-train", "-3"])
    assert raised.value.code == 2
    assert "must be >= 0" in capsys.readouterr().err
    assert main([str(tmp_path), "--n-train", "0"]) == 1
    assert "n_train" in capsys.readouterr().err
    assert not (tmp_path / "pairs.tsv").exists()
