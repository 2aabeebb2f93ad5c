"""The shipped default model: intact, documented, and better than the T1w-ce on a held-out pair."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nilearn.image import resample_img

from ce2nce_pipeline.cli.parser import parse_args
from ce2nce_pipeline.models import Predictor, load_checkpoint, sha256_file
from ce2nce_pipeline.models.default import (
    MAX_SHIPPED_BYTES,
    REAL_PAIRS_FILE,
    SIMULATED_WARNING,
    default_model_dir,
    default_model_path,
    package_default_model,
)
from ce2nce_pipeline.science.metrics import image_similarity
from ce2nce_pipeline.science.t1_linear import t1_linear
from ce2nce_pipeline.science.templates import CROP_AFFINE
from ce2nce_pipeline.simulation import (
    HELD_OUT_BASE,
    HELD_OUT_SEEDS,
    augment,
    build_anatomy,
    load_base_image,
    sample_augmentation,
    sample_parameters,
    simulate_ce,
)
from ce2nce_pipeline.simulation.training_set import TrainingSetPlan

from ..conftest import write_dataset


@pytest.fixture(scope="module")
def shipped():
    path = default_model_path()
    assert path is not None, f"no default model in {default_model_dir()} (make default-model)"
    return path


def test_shipped_model_is_intact_small_and_labelled(shipped):
    model, metadata = load_checkpoint(shipped)  # verifies the sha256
    weights = shipped / metadata["weights"]["file"]
    assert sha256_file(weights) == metadata["weights"]["sha256"]
    assert sum(p.stat().st_size for p in shipped.iterdir()) <= MAX_SHIPPED_BYTES
    assert not model.training
    assert SIMULATED_WARNING in metadata["training"]["notes"]
    card = (shipped / "MODEL_CARD.md").read_text()
    assert SIMULATED_WARNING in card
    assert "Test_good" in card and "Test_low" in card
    assert metadata["weights"]["sha256"] in card


def _held_out_pair(seed: int, quality: str):
    """A pair the model never saw: the MNI152 base on the t1-linear grid, a held-out seed."""
    base = load_base_image(HELD_OUT_BASE)
    on_grid = resample_img(
        base,
        target_affine=CROP_AFFINE,
        target_shape=(169, 208, 179),
        interpolation="linear",
        force_resample=True,
        copy_header=True,
    )
    data = np.clip(on_grid.get_fdata(dtype=np.float32), 0, None)
    nce = nib.Nifti1Image(data, CROP_AFFINE)
    nce.header.set_xyzt_units("mm", "sec")
    rng = np.random.default_rng(seed)
    nce = augment(nce, sample_augmentation(rng), seed=seed)
    anatomy = build_anatomy(nce, space="mni")
    params = sample_parameters(rng, quality=quality, space="mni")
    ce, info = simulate_ce(nce, params, seed=seed, anatomy=anatomy)
    return ce, info.nce_image, anatomy.brain


@pytest.mark.slow
@pytest.mark.parametrize("quality", ["good", "low"])
def test_shipped_model_brings_a_held_out_ce_closer_to_its_nce(shipped, quality):
    # The last held-out seeds: the recipe's test sets use the first 30 (TrainingSetPlan).
    plan = TrainingSetPlan()
    seed = HELD_OUT_SEEDS[-1 if quality == "good" else -2]
    assert seed not in {spec.seed for spec in plan.pairs()}
    ce, nce, brain = _held_out_pair(seed, quality)
    synthetic = Predictor.from_checkpoint(shipped, device="cpu", num_threads=2).predict(ce)
    assert synthetic.shape == ce.shape and np.allclose(synthetic.affine, ce.affine)
    real = nce.get_fdata()
    baseline = image_similarity(real, ce.get_fdata(), brain)
    translated = image_similarity(real, synthetic.get_fdata(), brain)
    # Required of the shipped model (docs/default_model.md): better than the ce on every metric.
    assert translated.mae_percent < 0.8 * baseline.mae_percent, (baseline, translated)
    assert translated.psnr_db > baseline.psnr_db + 2.0, (baseline, translated)
    assert translated.ssim > baseline.ssim, (baseline, translated)


#: Real pre/post-gadolinium pairs the team keeps beside the project (never copied into it).
REAL_PAIRS = Path(__file__).resolve().parents[3] / "shared" / "data" / "brats18-pairs"
#: A real subject no model of the package was trained or tuned on (a test subject of the
#: full-resolution recipe, docs/default_model_recipe.md).
HELD_OUT_SUBJECT = "sub-TCIA10639"


@pytest.fixture(scope="module")
def real_held_out_pair(tmp_path_factory):
    """A real T1w-ce / T1w-nce pair through the participant level's own t1-linear."""
    anat = REAL_PAIRS / HELD_OUT_SUBJECT / "ses-M000" / "anat"
    if not anat.is_dir():
        pytest.fail(f"{anat} missing: the real pairs live in ../shared/data/brats18-pairs")
    work = tmp_path_factory.mktemp("real_pair")
    stem = f"{HELD_OUT_SUBJECT}_ses-M000"
    nce, _ = t1_linear(anat / f"{stem}_T1w.nii.gz", work / "nce")
    # The T1w-ce is registered through its T1w-nce, as the participant graph does.
    ce, _ = t1_linear(anat / f"{stem}_ce-gadolinium_T1w.nii.gz", work / "ce", work / "nce")
    return ce, nce


@pytest.mark.slow
def test_shipped_model_brings_a_real_ce_closer_to_its_nce(shipped, real_held_out_pair):
    ce, nce = real_held_out_pair
    synthetic = Predictor.from_checkpoint(shipped, device="cpu", num_threads=2).predict(ce)
    a, b, c = (image.get_fdata(dtype=np.float32) for image in (nce, ce, synthetic))
    brain = (a > np.percentile(a[a > 0], 5)) & (b > 0)

    def scaled(image):
        low, high = np.percentile(image[brain], [0.5, 99.5])
        return np.clip((image - low) / (high - low), 0, 1)

    a, b, c = scaled(a), scaled(b), scaled(c)
    mae_ce, mae_synthetic = (100 * np.abs(a - x)[brain].mean() for x in (b, c))
    # Measured: 9.17 -> 7.44 % (docs/default_model.md); a regression fails here.
    assert mae_synthetic < mae_ce - 1.0, (mae_ce, mae_synthetic)


def test_participant_run_uses_the_shipped_model_unless_told_otherwise(
    shipped, tmp_path, colin27_tiny
):
    bids = write_dataset(
        tmp_path / "bids", {"sub-01/anat/sub-01_ce-gadolinium_T1w.nii.gz": colin27_tiny}
    )
    out = tmp_path / "out"
    assert parse_args([str(bids), str(out), "participant"]).model == shipped
    assert parse_args([str(bids), str(out), "participant", "--no-translation"]).model is None
    other = tmp_path / "other_model"
    other.mkdir()
    assert parse_args([str(bids), str(out), "participant", "--model", str(other)]).model == other
    with pytest.raises(SystemExit):
        parse_args([str(bids), str(out), "participant", "--model", str(other), "--no-translation"])


def test_packaging_refuses_a_model_over_the_size_limit(shipped, tmp_path, monkeypatch):
    evaluation = tmp_path / "evaluation"
    evaluation.mkdir()
    (evaluation / "per_pair.tsv").write_text(
        "pair_id\tcomparison\tmae_percent\tpsnr_db\tssim\n"
        "p1\tce\t10\t20\t0.8\np1\tdefault\t5\t26\t0.9\n"
    )
    target = tmp_path / "packaged"
    written = package_default_model(
        shipped, {"Test_good": evaluation}, data_description="test data", target=target
    )
    card = (written / "MODEL_CARD.md").read_text()
    assert "| mae_percent | 10.000 ± nan | 5.000 ± nan | -50.0 % | 1/1 |" in card
    packaged = json.loads((written / "metadata.json").read_text())
    assert packaged["training"]["data"] == "test data"
    # The re-save keeps how inputs are scaled (it once fell back to min-max: a white-matter-input
    # model then saw wrongly scaled inputs, held-out MAE 2.2 % -> 18 %) and the weights.
    original = json.loads((shipped / "metadata.json").read_text())
    # A checkpoint that records no output resampling used the paper's round trip: so does its
    # re-save, now recorded.
    assert packaged["preprocessing"]["resampling"].pop("output") == "round-trip"
    original["preprocessing"]["resampling"].pop("output", None)
    assert packaged["preprocessing"] == original["preprocessing"]
    assert packaged["weights"]["sha256"] == original["weights"]["sha256"]
    load_checkpoint(written)
    # Held-out real-pair scores are tabulated against the targets and copied beside the weights.
    scores = tmp_path / "scores.tsv"
    scores.write_text(
        "subject\tmae_ce\tmae_blurred_ce\tmae_synthetic\tremoved_blurred_ce\tremoved_synthetic"
        "\tdv_ce\tdv_synthetic\tdcsf_ce\tdcsf_synthetic\n"
        "sub-A\t20\t16\t12\t20\t70\t100\t50\t-40\t-10\n"
        "sub-B\t10\t9\t11\t10\t50\t80\t90\t-60\t-30\n"
    )
    with_real = package_default_model(
        shipped, {}, data_description="x", target=tmp_path / "real", real_pairs=scores
    )
    card = (with_real / "MODEL_CARD.md").read_text()
    assert (
        "| sub-A | 20.00 | 16.00 | 12.00 | 20.00 | 70.00 | 100.00 | 50.00 | -40.00 | -10.00 |"
        in card
    )
    assert "**not met**: MAE below the T1w-ce's on every pair (1/2)" in card
    assert (
        "met: at least 60 % of the enhancement removed, and 30 points more than the blurred "
        "T1w-ce (60.0 % against 15.0 %)" in card
    )
    assert "**not met**: mean signed CSF error within ±15 cm³ (-20.0 cm³, T1w-ce -50.0)" in card
    old = tmp_path / "old_scores.tsv"
    old.write_text("subject\tmae_ce\tmae_synthetic\nsub-A\t20\t12\n")
    with pytest.raises(ValueError, match="removed_synthetic"):
        package_default_model(
            shipped, {}, data_description="x", target=tmp_path / "old", real_pairs=old
        )
    assert (with_real / REAL_PAIRS_FILE).read_text() == scores.read_text()
    # The output resampling chosen on the validation pairs is recorded and shown in the card.
    keeping = package_default_model(
        shipped, {}, data_description="x", target=tmp_path / "kd", output_resampling="keep-detail"
    )
    assert (
        json.loads((keeping / "metadata.json").read_text())["preprocessing"]["resampling"][
            "output"
        ]
        == "keep-detail"
    )
    assert "applied to the full-resolution input" in (keeping / "MODEL_CARD.md").read_text()
    monkeypatch.setattr("ce2nce_pipeline.models.default.MAX_SHIPPED_BYTES", 1000)
    with pytest.raises(ValueError, match="50 MB"):
        package_default_model(shipped, {}, data_description="x", target=tmp_path / "too_big")
    assert not (tmp_path / "too_big").exists()
    assert (written / "metadata.json").is_file()
