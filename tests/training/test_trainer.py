"""Tests of the training loops: real learning, selection on validation, resuming, cGAN."""

from __future__ import annotations

import csv
import json
import math

import nibabel as nib
import numpy as np
import pytest
import torch

from ce2nce_pipeline.models import (
    Predictor,
    build_model,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)
from ce2nce_pipeline.models.checkpoint import checkpoint_normalisation
from ce2nce_pipeline.science.intensity import WHITE_MATTER_LEVEL, white_matter_region
from ce2nce_pipeline.science.resampling import T1_LINEAR_SHAPE
from ce2nce_pipeline.training import (
    LOG_COLUMNS,
    ConfigError,
    PairedVolumeDataset,
    TrainingConfig,
    build_generator,
    l1_loss,
    read_log,
    read_pairs_tsv,
    train,
)
from ce2nce_pipeline.training.losses import gain_target
from ce2nce_pipeline.training.networks import build_networks
from ce2nce_pipeline.training.trainer import GAIN_LEARNING_RATE_FACTOR, STATE_FILE

from . import (
    brightened,
    colin_brain_mask,
    colin_nce,
    smooth_rows,
    write_pairs,
    write_small_pairs,
)

SMALL_GRID = (16, 16, 16)
SMALL_NET = {"base_channels": 2, "depth": 2}


pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def colin_tsv(tmp_path_factory):
    """Three real pairs (Colin27 and its mirror image, artificially enhanced): 2 train, 1 val."""
    return write_pairs(
        tmp_path_factory.mktemp("colin"), 3, splits=["train", "train", "validation"]
    )


@pytest.fixture(scope="module")
def small_tsv(tmp_path_factory):
    """Four small smooth pairs (3 train, 1 validation) off the t1-linear grid."""
    return write_small_pairs(tmp_path_factory.mktemp("small"), smooth_rows())


def small_config(tmp_path, tsv, **changes):
    settings = dict(
        output_dir=tmp_path / "run",
        pairs_tsv=tsv,
        network_shape=SMALL_GRID,
        check_grid=False,
        architecture="att_unet",
        preset="tiny",
        model_kwargs=SMALL_NET,
        epochs=3,
        learning_rate=1e-3,
        progress=False,
        validation_metrics=False,
    )
    settings.update(changes)
    return TrainingConfig(**settings)


def eval_l1(model, dataset):
    model.eval()
    with torch.no_grad():
        losses = [
            float(l1_loss(model(dataset[i]["ce"][None]), dataset[i]["nce"][None]))
            for i in range(len(dataset))
        ]
    return float(np.mean(losses))


def weights(checkpoint):
    model, _ = load_checkpoint(checkpoint)
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_generator_training_halves_l1_on_a_real_pair(tmp_path, colin_tsv):
    # A small Att-U-Net on a 32³ grid; lr 1e-3 so that 200 steps are enough to learn.
    config = TrainingConfig(
        output_dir=tmp_path / "run",
        pairs_tsv=colin_tsv,
        network_shape=(32, 32, 32),
        architecture="att_unet",
        preset="tiny",
        model_kwargs={"base_channels": 2, "depth": 3},
        epochs=100,
        batch_size=1,
        learning_rate=1e-3,
        progress=False,
        validation_metrics=False,
    )
    pairs = read_pairs_tsv(colin_tsv)
    train_set = PairedVolumeDataset([p for p in pairs if p.split == "train"], (32, 32, 32))
    torch.manual_seed(config.seed)
    before = eval_l1(build_generator(config), train_set)

    result = train(config)

    assert result.finished and result.steps_run == 200 and result.epochs_completed == 100
    model, metadata = load_checkpoint(result.best_checkpoint)
    after = eval_l1(model, train_set)
    assert after <= 0.5 * before, (before, after)
    rows = read_log(result.log_file)
    assert list(rows[0]) == list(LOG_COLUMNS)
    assert [r["epoch"] for r in rows] == [str(e) for e in range(101)]
    assert float(rows[-1]["train_loss"]) <= 0.5 * float(rows[1]["train_loss"])
    assert result.best_val_loss <= 0.5 * float(rows[0]["val_loss"])  # it generalises too
    training = metadata["training"]
    assert training["protocol"] == "generator" and training["epochs"] == 100
    assert training["best_epoch"] == result.best_epoch and training["seed"] == 0
    assert training["hyperparameters"]["betas"] == [0.5, 0.999]
    assert training["validation_metrics"]["val_loss"] == pytest.approx(result.best_val_loss)
    assert metadata["preprocessing"]["network_grid"]["shape"] == [32, 32, 32]
    assert (tmp_path / "run" / "model_card.md").is_file()
    with open(tmp_path / "run" / "split.tsv") as stream:
        assert [r["split"] for r in csv.DictReader(stream, delimiter="\t")] == [
            "train",
            "train",
            "validation",
        ]

    # The trained checkpoint serves the Predictor: t1-linear in, same grid out, deterministic.
    nce, affine = colin_nce()
    image = nib.Nifti1Image(brightened(nce), affine)
    predictor = Predictor.from_checkpoint(result.best_checkpoint, device="cpu")
    first, second = predictor.predict(image), predictor.predict(image)
    assert first.shape == T1_LINEAR_SHAPE and np.allclose(first.affine, affine)
    assert np.array_equal(first.get_fdata(), second.get_fdata())


def test_white_matter_normalisation_feeds_training_and_is_recorded(tmp_path, colin_tsv):
    grid = (32, 32, 32)
    pairs = read_pairs_tsv(colin_tsv)
    region = white_matter_region(grid)
    levels = {
        method: float(
            np.median(
                PairedVolumeDataset(pairs, grid, normalisation=method)[0]["ce"][0].numpy()[region]
            )
        )
        for method in ("min-max", "white-matter")
    }
    # white-matter-input: the ce as white-matter, the nce target as min-max (the paper's).
    hybrid = PairedVolumeDataset(pairs, grid, normalisation="white-matter-input")[0]
    paper = PairedVolumeDataset(pairs, grid)[0]
    # The artificial ce's enhancement sets its maximum: min-max puts its white matter lower
    # than the nce's; white-matter scaling puts it at the level whatever the enhancement.
    assert levels["white-matter"] == pytest.approx(WHITE_MATTER_LEVEL, abs=0.02)
    assert levels["min-max"] < 0.8 * float(np.median(paper["nce"][0].numpy()[region]))
    white_matter = PairedVolumeDataset(pairs, grid, normalisation="white-matter")[0]
    assert torch.equal(hybrid["ce"], white_matter["ce"])
    assert torch.equal(hybrid["nce"], paper["nce"])
    assert not torch.equal(hybrid["nce"], white_matter["nce"])
    config = small_config(
        tmp_path,
        colin_tsv,
        network_shape=grid,
        check_grid=True,
        epochs=1,
        intensity_normalisation="white-matter",
    )
    result = train(config)
    assert checkpoint_normalisation(read_metadata(result.best_checkpoint)) == "white-matter"
    assert Predictor.from_checkpoint(result.best_checkpoint).normalisation == "white-matter"
    assert "white-matter prior" in (tmp_path / "run" / "model_card.md").read_text()
    with pytest.raises(ConfigError, match="intensity_normalisation differ"):
        train(TrainingConfig(**{**config.__dict__, "intensity_normalisation": "min-max"}))


def test_best_model_is_chosen_on_validation_not_training_loss(tmp_path):
    # Training pairs teach the identity; the validation target is (almost) empty, so the
    # better the network learns the training pairs, the worse it does on validation.
    grid = np.meshgrid(*[np.linspace(0, 1, 16)] * 3, indexing="ij")
    rng = np.random.default_rng(0)
    rows = []
    for index in range(2):
        image = (
            np.sin(3 * grid[0] + index) * np.cos(2 * grid[1])
            + grid[2]
            + 0.1 * rng.random((16,) * 3)
        )
        rows.append((image, image, "train"))
    empty = np.zeros((16,) * 3)
    empty[0, 0, 0] = 1.0
    rows.append((np.sin(3 * grid[0] + 5) * np.cos(2 * grid[1]) + grid[2], empty, "validation"))
    tsv = write_small_pairs(tmp_path / "data", rows)
    config = small_config(tmp_path, tsv, epochs=8, batch_size=2, learning_rate=1e-2)

    result = train(config)

    rows = [r for r in read_log(result.log_file) if r["phase"] == "generator"]
    train_loss = [float(r["train_loss"]) for r in rows]
    val_loss = [float(r["val_loss"]) for r in rows]
    best = int(np.argmin(val_loss)) + 1
    assert result.best_epoch == best
    assert int(np.argmin(train_loss)) + 1 != best  # the selections disagree here
    assert [r["is_best"] == "True" for r in rows][best - 1]
    # best/ holds the weights of that epoch, last/ those of the final one.
    val_set = PairedVolumeDataset(read_pairs_tsv(tsv)[2:], SMALL_GRID, check_grid=False)
    best_model, _ = load_checkpoint(result.best_checkpoint)
    last_model, _ = load_checkpoint(result.last_checkpoint)
    assert eval_l1(best_model, val_set) == pytest.approx(val_loss[best - 1], rel=1e-5)
    assert eval_l1(last_model, val_set) == pytest.approx(val_loss[-1], rel=1e-5)


def comparable_log(path):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in read_log(path)]


def optimizer_tensors(run_dir, key):
    state = torch.load(run_dir / "last" / STATE_FILE, map_location="cpu", weights_only=True)
    return [t for s in state[key]["state"].values() for t in s.values()]


@pytest.mark.parametrize(
    ("architecture", "kwargs"),
    [
        ("att_unet", SMALL_NET),
        # Trans-U-Net has dropout: the resumed run must replay the same random draws.
        (
            "trans_unet",
            {
                "base_channels": 2,
                "depth": 3,
                "embed_dim": 8,
                "num_heads": 2,
                "mlp_dim": 16,
                "num_layers": 1,
            },
        ),
    ],
)
def test_resumed_generator_run_equals_the_uninterrupted_run(
    tmp_path, small_tsv, architecture, kwargs, monkeypatch
):
    common = dict(architecture=architecture, model_kwargs=kwargs, epochs=3, batch_size=2)
    whole = train(small_config(tmp_path / "whole", small_tsv, **common))
    assert whole.finished and whole.global_step == 6  # 3 training pairs: 2 batches an epoch

    chunked = small_config(tmp_path / "chunked", small_tsv, **common)
    first = train(TrainingConfig(**{**chunked.__dict__, "max_steps": 3}))  # stops mid-epoch 2
    assert not first.finished and first.epochs_completed == 1 and first.global_step == 3

    loads = []
    real_load = torch.load

    def spy(*args, **kw):
        loads.append(kw.get("weights_only"))
        return real_load(*args, **kw)

    monkeypatch.setattr(torch, "load", spy)
    second = train(chunked)
    assert loads and all(flag is True for flag in loads)
    assert second.finished and second.steps_run == 3 and second.global_step == 6

    assert_same_weights(weights(whole.last_checkpoint), weights(second.last_checkpoint))
    assert_same_weights(weights(whole.best_checkpoint), weights(second.best_checkpoint))
    assert second.best_epoch == whole.best_epoch
    assert comparable_log(whole.log_file) == comparable_log(second.log_file)
    for a, b in zip(
        optimizer_tensors(whole.output_dir, "optimizer_g"),
        optimizer_tensors(second.output_dir, "optimizer_g"),
        strict=True,
    ):
        assert torch.equal(a, b)


def test_epochs_can_be_added_to_a_finished_run(tmp_path, small_tsv):
    config = small_config(tmp_path, small_tsv, epochs=1)
    assert train(config).epochs_completed == 1
    again = train(config)  # nothing left to do
    assert again.finished and again.steps_run == 0
    more = train(TrainingConfig(**{**config.__dict__, "epochs": 2}))
    assert more.epochs_completed == 2 and more.steps_run == 2
    assert [r["epoch"] for r in read_log(more.log_file)] == ["0", "1", "2"]


@pytest.fixture(scope="module")
def generator_checkpoint(tmp_path_factory):
    """An (untrained) small U-Net checkpoint on the 16³ grid: the cGAN's starting point."""
    torch.manual_seed(1)
    model = build_model("att_unet", **SMALL_NET)
    return save_checkpoint(
        model, tmp_path_factory.mktemp("unet") / "best", network_shape=SMALL_GRID
    )


def cgan_config(tmp_path, tsv, checkpoint, **changes):
    settings = dict(
        output_dir=tmp_path / "run",
        protocol="cgan",
        pairs_tsv=tsv,
        check_grid=False,
        generator_checkpoint=checkpoint,
        discriminator_preset="tiny",
        discriminator_kwargs={"depth": 2},  # patches of 13³ fit a 16³ grid
        patch_size=13,
        patch_stride=3,
        pretrain_epochs=1,
        epochs=2,
        learning_rate=1e-3,
        discriminator_learning_rate=1e-3,
        progress=False,
        validation_metrics=False,
    )
    settings.update(changes)
    return TrainingConfig(**settings)


def test_cgan_step_updates_both_networks(tmp_path, small_tsv, generator_checkpoint):
    start_g = weights(generator_checkpoint)
    torch.manual_seed(0)  # the trainer seeds, loads the generator, then builds D
    start_d = build_model("patch_discriminator", base_channels=4, depth=2).state_dict()

    pretrained = train(
        cgan_config(tmp_path / "pre", small_tsv, generator_checkpoint, epochs=1, max_steps=3)
    )
    # Pre-training (3 steps: one epoch) moves the discriminator only.
    assert not pretrained.finished and pretrained.global_step == 3
    assert_same_weights(start_g, weights(pretrained.last_checkpoint))
    d_pre = weights(pretrained.output_dir / "last" / "discriminator")
    assert any(not torch.equal(start_d[k], d_pre[k]) for k in start_d)

    one = train(
        cgan_config(
            tmp_path / "one", small_tsv, generator_checkpoint, pretrain_epochs=0, max_steps=1
        )
    )
    assert one.global_step == 1
    g_after = weights(one.last_checkpoint)
    d_after = weights(one.output_dir / "last" / "discriminator")
    for start, after in ((start_g, g_after), (start_d, d_after)):
        changed = [
            k for k in start if k.endswith("weight") and not torch.equal(start[k], after[k])
        ]
        weights_total = [k for k in start if k.endswith("weight")]
        assert len(changed) == len(weights_total), "every layer of both networks is updated"


def test_resumed_cgan_run_equals_the_uninterrupted_run(tmp_path, small_tsv, generator_checkpoint):
    whole = train(cgan_config(tmp_path / "whole", small_tsv, generator_checkpoint))
    assert whole.finished and whole.global_step == 9  # 3 pre-training + 2 x 3 joint steps
    rows = read_log(whole.log_file)
    assert [(r["phase"], r["epoch"]) for r in rows] == [
        ("initial", "0"),
        ("discriminator_pretraining", "1"),
        ("cgan", "1"),
        ("cgan", "2"),
    ]
    assert all(r["train_adversarial"] and r["train_discriminator"] for r in rows[2:])
    metadata = json.loads((whole.best_checkpoint / "metadata.json").read_text())
    assert metadata["training"]["protocol"] == "cgan"
    assert "8 patches of 13³" in metadata["training"]["hyperparameters"]["patches"]

    chunked = cgan_config(tmp_path / "chunked", small_tsv, generator_checkpoint)
    stops = [train(TrainingConfig(**{**chunked.__dict__, "max_steps": 4}))]  # mid joint epoch 1
    stops.append(train(TrainingConfig(**{**chunked.__dict__, "max_steps": 4})))  # mid epoch 2
    assert [s.global_step for s in stops] == [4, 8] and not any(s.finished for s in stops)
    final = train(chunked)
    assert final.finished and final.global_step == 9
    assert_same_weights(weights(whole.last_checkpoint), weights(final.last_checkpoint))
    for name in ("discriminator",):
        assert_same_weights(
            weights(whole.output_dir / "last" / name), weights(final.output_dir / "last" / name)
        )
    assert comparable_log(whole.log_file) == comparable_log(final.log_file)
    for key in ("optimizer_g", "optimizer_d"):
        for a, b in zip(
            optimizer_tensors(whole.output_dir, key),
            optimizer_tensors(final.output_dir, key),
            strict=True,
        ):
            assert torch.equal(a, b)


def test_runs_refuse_unusable_settings(tmp_path, small_tsv, generator_checkpoint):
    done = small_config(tmp_path / "a", small_tsv, epochs=1)
    train(done)
    with pytest.raises(ConfigError, match="set run.resume = true"):
        train(TrainingConfig(**{**done.__dict__, "resume": False}))
    with pytest.raises(ConfigError, match="learning_rate differ"):
        train(TrainingConfig(**{**done.__dict__, "learning_rate": 5e-4}))
    (tmp_path / "b" / "run").mkdir(parents=True)
    (tmp_path / "b" / "run" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        train(small_config(tmp_path / "b", small_tsv))
    with pytest.raises(ConfigError, match="does not fit"):
        train(small_config(tmp_path / "c", small_tsv, network_shape=(17, 17, 17)))
    with pytest.raises(ConfigError, match="too small for a discriminator"):
        train(
            cgan_config(tmp_path / "d", small_tsv, generator_checkpoint, discriminator_kwargs={})
        )
    with pytest.raises(ConfigError, match="differs from the grid"):
        train(
            cgan_config(
                tmp_path / "e", small_tsv, generator_checkpoint, network_shape=(32, 32, 32)
            )
        )
    with pytest.raises(
        ConfigError, match="from the 'min-max' the cgan.generator_checkpoint checkpoint"
    ):
        train(
            cgan_config(
                tmp_path / "h",
                small_tsv,
                generator_checkpoint,
                intensity_normalisation="white-matter",
            )
        )
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            train(small_config(tmp_path / "f", small_tsv, device="cuda"))
    assert math.isfinite(train(small_config(tmp_path / "g", small_tsv, epochs=1)).best_val_loss)


def saved_learning_rate(run_dir):
    state = torch.load(run_dir / "last" / STATE_FILE, map_location="cpu", weights_only=True)
    return state["optimizer_g"]["param_groups"][0]["lr"]


def test_cosine_decay_added_to_a_finished_run_sets_each_epochs_rate(tmp_path, small_tsv):
    constant = small_config(tmp_path, small_tsv, epochs=1)  # 3 training pairs: 2 steps/epoch
    train(constant)
    assert saved_learning_rate(constant.output_dir) == pytest.approx(1e-3)
    # Extend the finished run by 2 epochs decaying from epoch 1 (a change allowed on resume).
    decayed = TrainingConfig(
        **{
            **constant.__dict__,
            "epochs": 3,
            "lr_schedule": "cosine",
            "lr_decay_start_epoch": 1,
            "min_learning_rate": 1e-5,
        }
    )
    stopped = train(TrainingConfig(**{**decayed.__dict__, "max_steps": 3}))  # mid-epoch 3
    assert not stopped.finished and stopped.epochs_completed == 2
    # Epoch 3 is half-way through the decay: 1e-5 + (1e-3 - 1e-5) / 2.
    assert saved_learning_rate(constant.output_dir) == pytest.approx(5.05e-4)
    # The saved optimiser state carries the old rate; the schedule is applied again on resume.
    finished = train(TrainingConfig(**{**decayed.__dict__, "min_learning_rate": 0.0}))
    assert finished.finished and finished.steps_run == 1
    assert saved_learning_rate(constant.output_dir) == pytest.approx(5e-4)
    _, metadata = load_checkpoint(finished.best_checkpoint)
    assert metadata["training"]["hyperparameters"]["lr_schedule"] == {
        "schedule": "cosine",
        "decay_start_epoch": 1,
        "min_learning_rate": 0.0,
    }


def test_minimum_rate_above_the_rate_is_refused(tmp_path, small_tsv):
    with pytest.raises(ConfigError, match="min_learning_rate .* is above"):
        small_config(tmp_path, small_tsv, lr_schedule="cosine", min_learning_rate=1.0)
    with pytest.raises(ConfigError, match="lr_schedule must be one of"):
        small_config(tmp_path, small_tsv, lr_schedule="step")


def test_supervised_global_gain_learns_each_pairs_intensity_ratio(tmp_path):
    # white-matter-input: the ce's white matter at 0.25, the nce min-max. With a head the
    # nce's maximum is scalp fat, skull-stripped its brightest white matter, so the target's
    # contrast is about 1.7 or 3.3 times the input's: one gain per image, read from the image.
    grid = (32, 32, 32)
    nce, affine = colin_nce()
    stripped = nce * colin_brain_mask()
    rows = []
    images = ((nce, "train"), (stripped, "train"), (nce, "validation"))
    for index, (data, split) in enumerate(images):
        ce = brightened(data, phase=0.7 * index)
        rows.append({"ce": f"{index}_ce.nii", "nce": f"{index}_nce.nii", "split": split})
        nib.save(nib.Nifti1Image(ce, affine), tmp_path / rows[-1]["ce"])
        nib.save(nib.Nifti1Image(data, affine), tmp_path / rows[-1]["nce"])
    # Each training pair listed 5 times: 10 steps an epoch, fewer checkpoints written.
    rows = [rows[0], rows[1]] * 5 + [rows[2]]
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text(
        "pair_id\tce\tnce\tsplit\n"
        + "".join(f"p{i}\t{r['ce']}\t{r['nce']}\t{r['split']}\n" for i, r in enumerate(rows))
    )
    pairs = read_pairs_tsv(tsv)[:2]
    dataset = PairedVolumeDataset(pairs, grid, normalisation="white-matter-input")
    ce = torch.stack([dataset[i]["ce"] for i in range(2)])
    wanted = gain_target(ce, torch.stack([dataset[i]["nce"] for i in range(2)]))
    assert 1.5 < float(wanted[0]) < 2.0 and float(wanted[1]) > 3.0, wanted

    def learned_gains(weight, name):
        config = small_config(
            tmp_path / name,
            tsv,
            network_shape=grid,
            check_grid=True,
            architecture="res_unet",
            preset="tiny",
            model_kwargs={
                "base_channels": 8,  # the default model's width (its gain branch's too)
                "depth": 2,
                "global_residual": True,
                "global_gain": True,
            },
            intensity_normalisation="white-matter-input",
            epochs=30,  # 300 steps
            batch_size=1,
            learning_rate=1e-4,  # the paper's: the gain branch trains at 10 times that
            gain_loss_weight=weight,
        )
        train(config)
        model, metadata = load_checkpoint(tmp_path / name / "run" / "last" / "generator")
        with torch.no_grad():
            return model.eval().predict_gain(ce), metadata["training"]["hyperparameters"]

    supervised, hyperparameters = learned_gains(1.0, "supervised")
    unsupervised, plain = learned_gains(0.0, "unsupervised")
    error = (supervised - wanted).abs() / wanted
    assert float(error.max()) < 0.05, (supervised, wanted)
    assert float((unsupervised - wanted).abs()[1] / wanted[1]) > 0.2, (unsupervised, wanted)
    assert hyperparameters["loss"] == "L1 + 1 x L1(gain)"
    assert hyperparameters["gain_learning_rate_factor"] == GAIN_LEARNING_RATE_FACTOR
    assert plain["loss"] == "L1" and "gain_learning_rate_factor" not in plain


def test_a_run_starts_from_a_kept_half_precision_chunk(tmp_path, small_tsv):
    """A chunk of training kept as float16 weights starts the next run from those weights."""
    first = train(small_config(tmp_path / "first", small_tsv, epochs=2))
    model, metadata = load_checkpoint(first.best_checkpoint)
    kept = save_checkpoint(
        model,
        tmp_path / "kept" / "best",
        network_shape=SMALL_GRID,
        normalisation=checkpoint_normalisation(metadata),
        half_precision=True,
    )
    half = load_file_dtypes(kept)
    assert {dtype for dtype in half if dtype.is_floating_point} == {torch.float16}
    trained = weights(first.best_checkpoint)
    config = small_config(tmp_path / "next", small_tsv, epochs=1, initial_checkpoint=kept)
    # Before any step the generator is the kept chunk (to float16 rounding), not a fresh draw.
    nets = build_networks(config, {}, torch.device("cpu"), None)
    for key, value in nets.generator.state_dict().items():
        assert torch.allclose(value, trained[key], rtol=1e-3, atol=1e-4), key
    fresh = build_networks(
        small_config(tmp_path / "fresh", small_tsv), {}, torch.device("cpu"), None
    )
    assert not all(
        torch.allclose(v, trained[k], atol=1e-4) for k, v in fresh.generator.state_dict().items()
    )
    assert train(config).finished
    # Another grid than the chunk's is refused in one line.
    with pytest.raises(ConfigError, match="grid .* the model.initial_checkpoint checkpoint"):
        train(
            small_config(
                tmp_path / "bad", small_tsv, initial_checkpoint=kept, network_shape=(32, 32, 32)
            )
        )


def load_file_dtypes(checkpoint):
    from safetensors.torch import load_file

    return {t.dtype for t in load_file(checkpoint / "weights.safetensors").values()}
