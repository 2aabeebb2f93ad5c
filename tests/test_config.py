"""The run settings: frozen, typed choices checked, TOML that re-runs; the model's sidecar."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from ce2nce_pipeline.config import RunConfig, TranslationModel


def _config(**settings) -> RunConfig:
    return RunConfig(Path("/data/bids"), Path("/data/out"), "participant", **settings)


def test_settings_are_frozen_and_copied_with_replace():
    config = _config(participant_labels=["01"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.work_dir = Path("/tmp/work")  # type: ignore[misc]
    copy = dataclasses.replace(config, work_dir=Path("/tmp/work"))
    assert copy.work_dir == Path("/tmp/work") and config.work_dir is None
    assert copy.participant_labels == ("01",)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("plugin", "Celery"),
        ("mask_backend", "bet2"),
        ("seg_backend", "fast"),
        ("output_resampling", "nearest"),
        ("device", "gpu0"),
        ("nprocs", 0),
    ],
)
def test_a_choice_outside_its_type_is_refused(setting, value):
    with pytest.raises(ValueError, match=str(value) if setting != "nprocs" else "at least 1"):
        _config(**{setting: value})


def test_toml_without_work_dir_names_no_temporary_folder():
    settings = tomllib.loads(_config().to_toml())["run"]
    assert "work_dir" not in settings
    assert settings["participant_labels"] == [] and settings["plugin_args"] == "{}"
    given = tomllib.loads(_config(work_dir=Path("/data/work")).to_toml())["run"]
    assert given["work_dir"] == "/data/work"


def test_translation_model_sidecar_keys_and_order():
    model = TranslationModel(
        checkpoint=Path("/models/res"),
        architecture="res_unet",
        weights_sha256="a" * 64,
        normalisation="white-matter",
        network_grid="128x128x128",
        output_resampling="keep-detail",
    )
    assert list(model.sidecar()) == [
        "Checkpoint",
        "Architecture",
        "WeightsSha256",
        "IntensityNormalisation",
        "NetworkGrid",
        "OutputResampling",
    ]
    assert model.sidecar()["Checkpoint"] == "/models/res"
    named = dataclasses.replace(model, name="ce2nce-default")
    assert list(named.sidecar())[0] == "Model" and named.sidecar()["Model"] == "ce2nce-default"
