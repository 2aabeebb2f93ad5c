"""Tests of the image-similarity evaluation (``ce2nce_pipeline.evaluation``, ce2nce-evaluate)."""

from __future__ import annotations

import logging

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import ttest_rel
from statsmodels.stats.multitest import multipletests

from ce2nce_pipeline.cli.evaluate import main
from ce2nce_pipeline.evaluation import (
    METRICS,
    EvaluationConfig,
    compare_with_baseline,
    evaluate_pairs,
    load_evaluation_config,
    run_evaluation,
)
from ce2nce_pipeline.models import Predictor, build_model, save_checkpoint
from ce2nce_pipeline.science.metrics import image_similarity, union_mask
from ce2nce_pipeline.training import ConfigError, read_pairs_tsv

from .training import write_pairs

NET_GRID = (32, 32, 32)


pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Three real pairs (Colin27-based) with ce and nce brain masks, and two small models."""
    root = tmp_path_factory.mktemp("evaluation")
    tsv = write_pairs(root / "data", 3, with_masks=True)
    checkpoints = {}
    for seed, name in ((0, "net_a"), (1, "net_b")):
        torch.manual_seed(seed)
        # LeakyReLUs and a sigmoid keep an untrained network's output varied within (0, 1).
        model = build_model("res_unet", base_channels=2, depth=3, final_activation="sigmoid")
        checkpoints[name] = save_checkpoint(model, root / name, network_shape=NET_GRID)
    return {"root": root, "tsv": tsv, "models": checkpoints}


@pytest.fixture(scope="module")
def evaluation(data):
    config = EvaluationConfig(
        output_dir=data["root"] / "out",
        models=data["models"],
        pairs_tsv=data["tsv"],
        device="cpu",
    )
    return run_evaluation(config)


def load(path):
    return np.asarray(nib.load(path).dataobj, dtype=np.float32)


def test_numbers_equal_the_metric_functions_on_the_same_arrays(data, evaluation):
    per_pair = evaluation.per_pair
    assert list(per_pair["comparison"]) == ["ce", "net_a", "net_b"] * 3
    assert set(per_pair["mask_source"]) == {"union(ce_mask, nce_mask)"}
    pair = read_pairs_tsv(data["tsv"])[0]
    ce, nce = load(pair.ce), load(pair.nce)
    mask = union_mask(load(pair.ce_mask) > 0.5, load(pair.nce_mask) > 0.5)
    candidates = {"ce": ce}
    for name, checkpoint in data["models"].items():
        candidates[name] = Predictor.from_checkpoint(checkpoint, device="cpu").predict_array(ce)
    rows = per_pair[per_pair["pair_id"] == pair.pair_id].set_index("comparison")
    for name, candidate in candidates.items():
        expected = image_similarity(nce, candidate, mask)
        assert rows.loc[name, "mae_percent"] == expected.mae_percent
        assert rows.loc[name, "psnr_db"] == expected.psnr_db
        assert rows.loc[name, "ssim"] == expected.ssim
        assert rows.loc[name, "mask_voxels"] == mask.sum()
    # The tables are on disk.
    for name in ("per_pair", "summary", "tests", "table", "models", "settings"):
        assert evaluation.files[name].is_file()
    models = pd.read_csv(evaluation.files["models"], sep="\t")
    assert list(models["architecture"]) == ["res_unet", "res_unet"]
    assert models["weights_sha256"].str.len().eq(64).all()


def test_summary_and_bonferroni_corrected_paired_t_tests(evaluation):
    per_pair, tests = evaluation.per_pair, evaluation.tests
    summary = evaluation.summary.set_index(["comparison", "metric"])
    for (comparison, metric), row in summary.iterrows():
        values = per_pair.loc[per_pair["comparison"] == comparison, metric].to_numpy()
        assert row["n"] == 3
        assert row["mean"] == pytest.approx(values.mean())
        assert row["sd"] == pytest.approx(values.std(ddof=1))
    assert len(tests) == 6 and set(tests["family_size"]) == {6}
    base = per_pair[per_pair["comparison"] == "ce"].set_index("pair_id")
    for _, row in tests.iterrows():
        model = per_pair[per_pair["comparison"] == row["comparison"]].set_index("pair_id")
        expected = ttest_rel(base[row["metric"]], model.loc[base.index, row["metric"]])
        assert row["p"] == pytest.approx(expected.pvalue)
        assert row["t"] == pytest.approx(expected.statistic)
        assert row["p_corrected"] == pytest.approx(min(1.0, 6 * row["p"]))
        lower_better = METRICS[row["metric"]]
        difference = row["mean_compared"] - row["mean_baseline"]
        assert row["improved"] == (difference < 0 if lower_better else difference > 0)
    corrected = multipletests(tests["p"], alpha=0.01, method="bonferroni")
    np.testing.assert_allclose(tests["p_corrected"], corrected[1])
    assert list(tests["significant"]) == list(corrected[0])
    table = evaluation.table
    assert list(table.columns) == ["metric", "comparison", "value"]
    assert list(table["comparison"][:3]) == ["ce", "net_a", "net_b"]
    assert all("±" in cell for cell in table["value"])


def test_paper_compatible_mode_uses_the_original_definitions(data, evaluation):
    pairs = read_pairs_tsv(data["tsv"])[:2]
    predictors = {"net_a": Predictor.from_checkpoint(data["models"]["net_a"], device="cpu")}
    paper = evaluate_pairs(pairs, predictors, paper_compatible=True)
    assert paper["paper_compatible"].all()
    pair = pairs[1]
    ce, nce = load(pair.ce), load(pair.nce)
    mask = union_mask(load(pair.ce_mask) > 0.5, load(pair.nce_mask) > 0.5)
    expected = image_similarity(nce, ce, mask, paper_compatible=True)
    row = paper[(paper["pair_id"] == pair.pair_id) & (paper["comparison"] == "ce")].iloc[0]
    assert (row["mae_percent"], row["psnr_db"], row["ssim"]) == (
        expected.mae_percent,
        expected.psnr_db,
        expected.ssim,
    )
    standard = evaluation.per_pair
    same = standard[(standard["pair_id"] == pair.pair_id) & (standard["comparison"] == "ce")]
    assert same["mae_percent"].iloc[0] != row["mae_percent"]


def test_without_masks_an_otsu_head_mask_is_used_and_said(data, tmp_path, caplog):
    (pair,) = read_pairs_tsv(data["tsv"])[:1]
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text(f"ce\tnce\n{pair.ce}\t{pair.nce}\n")
    with caplog.at_level(logging.WARNING, logger="ce2nce_pipeline.evaluation"):
        result = evaluate_pairs(read_pairs_tsv(tsv), {}, paper_compatible=True)
    assert list(result["mask_source"]) == ["otsu_head(nce)"]
    assert "not comparable with the paper" in caplog.text
    assert compare_with_baseline(result).empty


def test_predictions_are_identical_across_runs(data, tmp_path):
    pairs = read_pairs_tsv(data["tsv"])[:1]

    def run(folder):
        predictors = {
            name: Predictor.from_checkpoint(path, device="cpu")
            for name, path in data["models"].items()
        }
        return evaluate_pairs(pairs, predictors, paper_compatible=True, synthetic_dir=folder)

    first, second = run(tmp_path / "a"), run(tmp_path / "b")
    pd.testing.assert_frame_equal(first, second)
    for name in data["models"]:
        for pair in pairs:
            file = f"{name}/{pair.pair_id}_desc-synthetic_T1w.nii.gz"
            a, b = nib.load(tmp_path / "a" / file), nib.load(tmp_path / "b" / file)
            assert np.array_equal(a.get_fdata(), b.get_fdata())
            assert np.allclose(a.affine, nib.load(pair.ce).affine)


def test_an_unusable_pair_is_skipped_and_the_others_evaluated(data, tmp_path):
    good = read_pairs_tsv(data["tsv"])[0]
    affine = nib.load(good.ce).affine
    flat = tmp_path / "flat_ce.nii"
    nib.save(nib.Nifti1Image(np.ones(load(good.ce).shape, np.float32), affine), flat)
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text(
        "pair_id\tce\tnce\tce_mask\tnce_mask\n"
        f"good\t{good.ce}\t{good.nce}\t{good.ce_mask}\t{good.nce_mask}\n"
        f"flat\t{flat}\t{good.nce}\t{good.ce_mask}\t{good.nce_mask}\n"
    )
    skipped = []
    result = evaluate_pairs(read_pairs_tsv(tsv), {}, paper_compatible=True, skipped=skipped)
    assert list(result["pair_id"]) == ["good"]
    assert len(skipped) == 1 and skipped[0].startswith("flat: ") and "constant" in skipped[0]


def test_recipe_paths_overrides_and_unknown_keys(data, tmp_path):
    recipe = tmp_path / "evaluate.toml"
    recipe.write_text(
        f'output_dir = "out"\npairs_tsv = "{data["tsv"]}"\n[models]\nnet_a = "models/a"\n'
    )
    config = load_evaluation_config(recipe, models={"net_b": tmp_path / "b"}, alpha=0.05)
    assert config.output_dir == tmp_path / "out"
    assert config.models == {"net_a": tmp_path / "models" / "a", "net_b": tmp_path / "b"}
    assert config.alpha == 0.05 and not config.paper_compatible
    replaced = load_evaluation_config(recipe, dataset_dir=tmp_path)
    assert replaced.pairs_tsv is None and replaced.dataset_dir == tmp_path
    recipe.write_text(recipe.read_text().replace("output_dir", "outdir"))
    with pytest.raises(ConfigError, match="unknown table or key 'outdir'"):
        load_evaluation_config(recipe)
    with pytest.raises(ConfigError, match="reserved for the baseline"):
        EvaluationConfig(output_dir=tmp_path, models={"ce": tmp_path}, pairs_tsv=data["tsv"])


def test_cli_writes_the_tables(data, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--pairs", str(data["tsv"]), "--output-dir", str(out), "--paper-compatible", "-q"]
    for name, path in data["models"].items():
        argv += ["--model", f"{name}={path}"]
    assert main(argv + ["--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "mae_percent" in printed and "±" in printed
    per_pair = pd.read_csv(out / "per_pair.tsv", sep="\t")
    assert per_pair["paper_compatible"].all() and len(per_pair) == 9
    assert "paper_compatible = true" in (out / "evaluation.toml").read_text()


def test_cli_errors_are_one_line(data, tmp_path, capsys):
    base = ["--pairs", str(data["tsv"]), "--output-dir", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as raised:
        main(base + ["--model", "no_equals_sign"])
    assert raised.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ce2nce-evaluate: error: ") and "\n" not in err
    with pytest.raises(SystemExit):
        main(["--model", f"a={tmp_path}"])
    assert "--output-dir" in capsys.readouterr().err
    assert main(base + ["--model", f"a={tmp_path / 'missing'}", "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ce2nce-evaluate: error: model a: ") and "\n" not in err


def test_a_split_without_pairs_is_refused(data, tmp_path):
    config = EvaluationConfig(
        output_dir=tmp_path / "out", models=data["models"], pairs_tsv=data["tsv"], split="Test"
    )
    with pytest.raises(ConfigError, match="no pair has split 'Test'"):
        run_evaluation(config)
    assert not (tmp_path / "out").exists()
