"""Tests of the typed training settings read from TOML."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import pytest

from ce2nce_pipeline.training.config import (
    ConfigError,
    TrainingConfig,
    load_training_config,
)
from ce2nce_pipeline.training.settings import build_dataclass, coerce_fields, setting

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_follow_the_paper(tmp_path):
    config = TrainingConfig(output_dir=tmp_path / "run", pairs_tsv=tmp_path / "pairs.tsv")
    assert config.protocol == "generator"
    assert config.learning_rate == 1e-4 and config.betas == (0.5, 0.999)
    assert config.effective_batch_size == 2 and config.epochs == 300
    assert (config.patch_size, config.patch_stride, config.patches) == (64, 50, "paper")
    assert config.real_label_range == (0.0, 0.3) and config.fake_label_range == (0.7, 1.0)
    cgan = TrainingConfig(
        output_dir=tmp_path / "run",
        pairs_tsv=tmp_path / "pairs.tsv",
        protocol="cgan",
        generator_checkpoint=tmp_path / "best",
    )
    assert cgan.effective_batch_size == 1


def test_reads_a_recipe_and_resolves_paths_against_its_folder(tmp_path):
    recipe = write(
        tmp_path / "recipe.toml",
        """
[run]
output_dir = "runs/a"
seed = 3
max_minutes = 30

[data]
pairs_tsv = "data/pairs.tsv"
network_shape = [64, 64, 64]

[model]
architecture = "res_unet"
preset = "small"
kwargs = { base_channels = 6 }

[optimization]
epochs = 5
learning_rate = 2e-4
betas = [0.9, 0.99]
""",
    )
    config = load_training_config(recipe, epochs=7, device=None)
    assert config.output_dir == tmp_path / "runs" / "a"
    assert config.pairs_tsv == tmp_path / "data" / "pairs.tsv"
    assert config.network_shape == (64, 64, 64)
    assert config.model_kwargs == {"base_channels": 6}
    assert config.epochs == 7  # the override wins; None overrides are ignored
    assert config.device == "auto"
    assert config.betas == (0.9, 0.99) and config.max_minutes == 30.0
    # The settings written with a run read back to the same settings.
    again = write(tmp_path / "again.toml", config.to_toml())
    assert load_training_config(again) == config


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "[data]\npairs_tsv = 'p.tsv'\nvalidaton_fraction = 0.1\n",
            "'validaton_fraction' in [data]",
        ),
        ("[data]\npairs_tsv = 'p.tsv'\n[optimisation]\nepochs = 3\n", "'optimisation'"),
        ("[data]\npairs_tsv = 'p.tsv'\nlr = 3\n", "'lr' in [data]"),
        ("epochs = 3\n[data]\npairs_tsv = 'p.tsv'\n", "'epochs'"),
    ],
)
def test_an_unknown_key_is_refused_in_one_line(tmp_path, text, fragment):
    recipe = write(tmp_path / "recipe.toml", "[run]\noutput_dir = 'out'\n" + text)
    with pytest.raises(ConfigError) as raised:
        load_training_config(recipe)
    message = str(raised.value)
    assert "\n" not in message
    assert str(recipe) in message and fragment in message
    assert "unknown" in message


def recipe_with(tmp_path: Path, section: str, line: str) -> Path:
    """A valid minimal recipe plus one ``line`` in ``[section]``."""
    tables = {"run": ["output_dir = 'out'"], "data": ["pairs_tsv = 'p.tsv'"]}
    tables.setdefault(section, []).append(line)
    text = "".join(f"[{name}]\n" + "\n".join(lines) + "\n" for name, lines in tables.items())
    return write(tmp_path / "recipe.toml", text)


@pytest.mark.parametrize(
    ("section", "line", "fragment"),
    [
        ("optimization", "epochs = '3'", "optimization.epochs must be an integer"),
        ("optimization", "epochs = true", "optimization.epochs must be an integer"),
        ("optimization", "epochs = 0", "optimization.epochs must be >= 1"),
        ("optimization", "learning_rate = 0", "learning_rate must be > 0"),
        ("data", "network_shape = [128, 128]", "network_shape must be 3 positive integers"),
        ("data", "validation_fraction = 1.5", "validation_fraction must be <= 0.9"),
        ("run", "protocol = 'gan'", "run.protocol must be one of"),
        ("run", "resume = 'yes'", "run.resume must be true or false"),
        ("model", "architecture = 'unet'", "model.architecture must be one of"),
        ("model", "preset = 'huge'", "model.preset 'huge' does not exist"),
        ("model", "kwargs = 3", "model.kwargs must be a table"),
        ("cgan", "real_label_range = [0.5, 0.8]", "overlaps"),
        ("cgan", "patches = 'random'", "cgan.patches must be one of"),
    ],
)
def test_bad_values_are_refused_in_one_line(tmp_path, section, line, fragment):
    recipe = recipe_with(tmp_path, section, line)
    with pytest.raises(ConfigError) as raised:
        load_training_config(recipe)
    assert "\n" not in str(raised.value)
    assert str(recipe) in str(raised.value) and fragment in str(raised.value)


def test_inconsistent_or_missing_settings(tmp_path):
    with pytest.raises(ConfigError, match="missing required setting"):
        load_training_config(write(tmp_path / "a.toml", "[data]\npairs_tsv = 'p.tsv'\n"))
    with pytest.raises(ConfigError, match="exactly one data source"):
        TrainingConfig(output_dir=tmp_path, pairs_tsv=tmp_path / "p", dataset_dir=tmp_path)
    with pytest.raises(ConfigError, match="exactly one data source"):
        TrainingConfig(output_dir=tmp_path)
    with pytest.raises(ConfigError, match="generator_checkpoint"):
        TrainingConfig(output_dir=tmp_path, pairs_tsv=tmp_path / "p", protocol="cgan")
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_training_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not a readable TOML"):
        load_training_config(write(tmp_path / "b.toml", "[run\n"))


@pytest.mark.parametrize("name", ["train_att_unet.toml", "train_cgan_att_unet.toml"])
def test_shipped_recipes_are_valid(name):
    config = load_training_config(REPO / "workflows" / name)
    assert config.output_dir.is_absolute()
    if config.protocol == "cgan":
        assert config.generator_checkpoint is not None
        assert config.effective_batch_size == 1
    else:
        assert config.effective_batch_size == 2


def test_checks_come_from_the_annotations(tmp_path):
    """Each field is declared once: its type annotation and bounds give the check."""

    @dataclasses.dataclass(frozen=True)
    class Recipe:
        mode: Literal["fast", "slow"] = setting("fast", section="run")
        steps: int | None = setting(None, section="run", low=2)
        rate: float = setting(0.5, section="run", low=0.0, high=1.0, open_low=True)
        shape: tuple[int, int, int] = setting((8, 8, 8), section="data")
        band: tuple[float, float] = setting((0.1, 0.2), section="data")
        extra: dict[str, Any] = setting(section="data", factory=dict)
        folder: Path | None = setting(None, section="data", path=True)

        def __post_init__(self) -> None:
            coerce_fields(self)

    document = {
        "run": {"mode": "slow", "steps": 3},
        "data": {"shape": [4, 5, 6], "band": [0, 1], "folder": "sub"},
    }
    recipe = build_dataclass(Recipe, document, source="r.toml", base_dir=tmp_path)
    assert (recipe.mode, recipe.steps, recipe.shape) == ("slow", 3, (4, 5, 6))
    assert recipe.band == (0.0, 1.0) and recipe.folder == tmp_path / "sub"
    bad = [
        ("run", "mode", "medium", "must be one of \\['fast', 'slow'\\]"),
        ("run", "steps", 1, "run.steps must be >= 2"),
        ("run", "steps", True, "run.steps must be an integer"),
        ("run", "rate", 0.0, "run.rate must be > 0.0"),
        ("data", "shape", [4, 5], "data.shape must be 3 positive integers"),
        ("data", "band", [0.3, 0.2], "data.band must be two numbers"),
        ("data", "extra", 3, "data.extra must be a table"),
    ]
    for section, key, value, message in bad:
        with pytest.raises(ConfigError, match=f"^r.toml: .*{message}"):
            build_dataclass(Recipe, {section: {key: value}}, source="r.toml")


def test_an_annotation_without_a_toml_type_is_refused():
    @dataclasses.dataclass
    class Odd:
        items: set[int] = setting(section=None, factory=set)

        def __post_init__(self) -> None:
            coerce_fields(self)

    with pytest.raises(TypeError, match="no TOML setting type"):
        Odd()
