"""Tests of self-describing checkpoints."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import torch

from ce2nce_pipeline.models import (
    FORMAT_VERSION,
    CheckpointError,
    Predictor,
    TrainingMetadata,
    build_model,
    build_preset,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
    sha256_file,
    write_model_card,
)
from ce2nce_pipeline.models.checkpoint import (
    METADATA_FILE,
    WEIGHTS_FILE,
    checkpoint_normalisation,
)

# Small networks and inputs: the round trip is about bits, not sizes.
SMALL = {
    "res_unet": ({"base_channels": 2, "depth": 3}, 16),
    "att_unet": ({"base_channels": 2, "depth": 3}, 16),
    "trans_unet": (
        {
            "base_channels": 2,
            "depth": 3,
            "embed_dim": 8,
            "num_heads": 2,
            "mlp_dim": 16,
            "num_layers": 2,
            "input_size": 16,
        },
        16,
    ),
    "patch_discriminator": ({"base_channels": 2, "depth": 3}, 32),
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _run(model: torch.nn.Module, name: str, size: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(2, 1, size, size, size, generator=generator)
    with torch.inference_mode():
        if name == "patch_discriminator":
            return model(x, x.flip(2))
        return model(x)


def _trained_a_little(name: str) -> torch.nn.Module:
    """A model whose batch-norm statistics and weights moved away from initialisation."""
    torch.manual_seed(0)
    kwargs, size = SMALL[name]
    model = build_model(name, **kwargs).train()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.rand(2, 1, size, size, size)
    out = model(x, x) if name == "patch_discriminator" else model(x)
    out.abs().mean().backward()
    optimiser.step()
    return model.eval()


@pytest.fixture
def checkpoint(tmp_path):
    model = build_model("att_unet", **SMALL["att_unet"][0])
    path = save_checkpoint(model, tmp_path / "ckpt", {"data": "unit test", "epochs": 3})
    return path


@pytest.mark.parametrize("name", sorted(SMALL))
def test_round_trip_is_bit_identical(tmp_path, name):
    model = _trained_a_little(name)
    metadata = TrainingMetadata(
        data="2 synthetic pairs",
        protocol="generator",
        epochs=5,
        best_epoch=4,
        validation_metrics={"mae_percent": 3.1, "psnr_db": 27.0, "ssim": float("nan")},
        seed=42,
        hyperparameters={"optimizer": "Adam", "lr": 1e-4, "betas": (0.5, 0.999)},
    )
    path = save_checkpoint(model, tmp_path / name, metadata)
    loaded, meta = load_checkpoint(path)
    assert type(loaded) is type(model)
    assert not loaded.training
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key
    assert torch.equal(_run(loaded, name, SMALL[name][1]), _run(model, name, SMALL[name][1]))
    assert meta["training"]["validation_metrics"] == {
        "mae_percent": 3.1,
        "psnr_db": 27.0,
        "ssim": None,  # JSON has no NaN
    }
    assert meta["training"]["hyperparameters"]["betas"] == [0.5, 0.999]


def test_metadata_describes_the_checkpoint(checkpoint):
    meta = json.loads((checkpoint / METADATA_FILE).read_text())
    assert meta["format"] == "ce2nce-checkpoint"
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["architecture"]["name"] == "att_unet"
    assert meta["architecture"]["kwargs"]["base_channels"] == 2
    assert meta["architecture"]["num_parameters"] > 0
    digest = hashlib.sha256((checkpoint / WEIGHTS_FILE).read_bytes()).hexdigest()
    assert meta["weights"]["sha256"] == digest == sha256_file(checkpoint / WEIGHTS_FILE)
    pre = meta["preprocessing"]
    assert pre["intensity_normalisation"]["method"] == "min-max"
    assert pre["input_grid"]["shape"] == [169, 208, 179]
    assert pre["network_grid"]["shape"] == [128, 128, 128]
    assert pre["resampling"]["method"] == "trilinear"
    assert pre["resampling"]["align_corners"] is False
    assert meta["training"]["data"] == "unit test" and meta["training"]["epochs"] == 3
    for package in ("ce2nce", "torch", "numpy", "safetensors", "python"):
        assert meta["software"][package]
    assert "10.1186/s12880-024-01242-3" in meta["citation"]
    assert read_metadata(checkpoint) == meta


def test_weights_are_plain_safetensors_and_loading_never_unpickles(checkpoint, monkeypatch):
    from safetensors import safe_open

    with safe_open(checkpoint / WEIGHTS_FILE, framework="pt") as weights:
        assert any(key.startswith("encoder.") for key in weights.keys())

    def refuse(*args, **kwargs):
        raise AssertionError("torch.load must not be used")

    monkeypatch.setattr(torch, "load", refuse)
    load_checkpoint(checkpoint)


def test_tampered_weights_are_refused_naming_the_file(checkpoint):
    weights = checkpoint / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01  # one bit of the last tensor's data
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256") as info:
        load_checkpoint(checkpoint)
    assert str(weights) in str(info.value)


def _edit_metadata(path, edit):
    file = path / METADATA_FILE
    meta = json.loads(file.read_text())
    edit(meta)
    file.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m["architecture"].update(name="unet"), "unknown architecture 'unet'"),
        (lambda m: m.update(format_version=99), "format version 99 is not supported"),
        (lambda m: m.update(format="pytorch"), "not a ce2nce-checkpoint"),
        (lambda m: m.pop("weights"), "missing metadata field"),
        (lambda m: m["architecture"]["kwargs"].update(depth=0), "cannot build att_unet"),
        (lambda m: m["architecture"]["kwargs"].update(base_channels=3), "do not fit att_unet"),
        (lambda m: m["architecture"].update(name="res_unet"), "do not fit res_unet"),
        (lambda m: m["preprocessing"]["resampling"].update(align_corners=True), "resampling"),
        (lambda m: m["preprocessing"]["input_grid"].update(shape=[128, 128, 128]), "input grid"),
        (lambda m: m["preprocessing"]["network_grid"].update(shape=[64, 64]), "network_grid"),
        (
            lambda m: m["preprocessing"]["intensity_normalisation"].update(method="z-score"),
            "unsupported normalisation 'z-score'",
        ),
    ],
)
def test_inconsistent_metadata_is_refused(checkpoint, edit, message):
    _edit_metadata(checkpoint, edit)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(checkpoint)
    assert str(checkpoint) in str(info.value)


def test_missing_or_unreadable_checkpoints_are_refused(tmp_path, checkpoint):
    with pytest.raises(CheckpointError, match="not a ce2nce checkpoint"):
        load_checkpoint(tmp_path / "nowhere")
    (checkpoint / METADATA_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable metadata"):
        load_checkpoint(checkpoint)


def test_missing_weights_are_refused(checkpoint):
    (checkpoint / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match="weights file missing"):
        load_checkpoint(checkpoint)


def test_save_guards(tmp_path, checkpoint):
    model = build_model("att_unet", **SMALL["att_unet"][0])
    with pytest.raises(ValueError, match="overwrite=True"):
        save_checkpoint(model, checkpoint)
    save_checkpoint(model, checkpoint, overwrite=True)
    load_checkpoint(checkpoint)
    with pytest.raises(ValueError, match="unknown training metadata key"):
        save_checkpoint(model, tmp_path / "typo", {"epoch": 3})
    with pytest.raises(ValueError, match="not a registered architecture"):
        save_checkpoint(torch.nn.Conv3d(1, 1, 3), tmp_path / "conv")
    assert not list(checkpoint.glob("*.tmp"))


def test_model_card(tmp_path):
    model = build_preset("trans_unet", "tiny", input_size=32)
    path = save_checkpoint(
        model,
        tmp_path / "trans",
        {"data": "AP-HP pairs", "epochs": 300, "validation_metrics": {"mae_percent": 2.8}},
    )
    card = write_model_card(path, tmp_path / "card" / "MODEL_CARD.md")
    text = card.read_text()
    meta = read_metadata(path)
    assert text.startswith("# Model card: trans_unet")
    assert meta["weights"]["sha256"] in text
    assert "AP-HP pairs" in text and "| mae_percent | 2.8 |" in text
    assert "169×208×179" in text and "128×128×128" in text
    assert "doi:10.1186/s12880-024-01242-3" in text


def test_white_matter_normalisation_is_recorded_checked_and_described(tmp_path):
    model = build_model("att_unet", **SMALL["att_unet"][0])
    plain = save_checkpoint(model, tmp_path / "plain")
    assert checkpoint_normalisation(read_metadata(plain)) == "min-max"
    path = save_checkpoint(model, tmp_path / "wm", normalisation="white-matter")
    record = read_metadata(path)["preprocessing"]["intensity_normalisation"]
    assert record["method"] == "white-matter"
    assert record["white_matter_level"] == 0.25 and record["white_matter_prior_threshold"] == 0.9
    card = write_model_card(path, tmp_path / "card.md").read_text()
    assert "white-matter prior (p >= 0.9) is 0.25" in card and "min-max scaled" not in card
    assert "min-max scaled" in write_model_card(plain, tmp_path / "plain.md").read_text()
    # A checkpoint made with other constants would be fed wrongly scaled images: refused.
    _edit_metadata(
        path,
        lambda m: m["preprocessing"]["intensity_normalisation"].update(white_matter_level=0.6),
    )
    with pytest.raises(CheckpointError, match="other constants"):
        load_checkpoint(path)
    hybrid = save_checkpoint(model, tmp_path / "hybrid", normalisation="white-matter-input")
    record = read_metadata(hybrid)["preprocessing"]["intensity_normalisation"]
    assert (
        record["method"] == "white-matter-input" and "target (T1w-nce): min-max" in record["scope"]
    )
    card = write_model_card(hybrid, tmp_path / "hybrid.md").read_text()
    assert (
        "The input (T1w-ce) is scaled per image" in card
        and "min-max scaled as in the paper" in card
    )
    with pytest.raises(ValueError, match="unknown intensity normalisation 'percentile'"):
        save_checkpoint(model, tmp_path / "bad", normalisation="percentile")


@pytest.mark.parametrize(
    ("section", "key", "value", "named"),
    [
        ("intensity_normalisation", "method", "z-score", "normalisation 'z-score'"),
        ("resampling", "output", "sinc", "output resampling 'sinc'"),
        ("network_grid", "shape", [64, 64], "network_grid shape [64, 64]"),
    ],
)
def test_predictor_refuses_preprocessing_it_does_not_know(tmp_path, section, key, value, named):
    """A checkpoint from another version (or edited) is refused before any image is read."""
    model = build_model("res_unet", base_channels=2, depth=2)
    path = save_checkpoint(model, tmp_path / "ckpt", network_shape=(16, 16, 16))
    metadata_file = path / "metadata.json"
    metadata = json.loads(metadata_file.read_text())
    metadata["preprocessing"].setdefault(section, {})[key] = value
    metadata_file.write_text(json.dumps(metadata))
    with pytest.raises(CheckpointError, match=re.escape(named)):
        Predictor.from_checkpoint(path, device="cpu")


def test_a_change_region_is_recorded_and_an_unknown_one_refused(tmp_path):
    model = build_model("res_unet", base_channels=2, depth=2)
    plain = save_checkpoint(model, tmp_path / "plain", network_shape=(16, 16, 16))
    assert (
        "change_region" not in json.loads((plain / "metadata.json").read_text())["preprocessing"]
    )  # checkpoints that change everywhere stay as they were written before
    path = save_checkpoint(
        model, tmp_path / "ckpt", network_shape=(16, 16, 16), change_region="intracranial"
    )
    metadata_file = path / "metadata.json"
    metadata = json.loads(metadata_file.read_text())
    assert metadata["preprocessing"]["change_region"] == "intracranial"
    metadata["preprocessing"]["change_region"] = "skull"
    metadata_file.write_text(json.dumps(metadata))
    with pytest.raises(CheckpointError, match="unknown change region 'skull'"):
        Predictor.from_checkpoint(path, device="cpu")
    with pytest.raises(ValueError, match="unknown change region 'skull'"):
        save_checkpoint(model, tmp_path / "bad", change_region="skull")
