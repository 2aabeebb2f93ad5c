"""The run settings: frozen, typed choices checked, TOML that re-runs; the model's sidecar."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

import pytest

from ce2nce_pipeline.config import RunConfig
from ce2nce_pipeline.models.translation import TranslationModel


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
        ("output_level", "tiny"),
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


def test_qc_ratings_are_recorded_as_paths():
    config = _config(qc_ratings=["/data/sub-01_qc-ratings.tsv"])
    assert config.qc_ratings == (Path("/data/sub-01_qc-ratings.tsv"),)
    settings = tomllib.loads(config.to_toml())["run"]
    assert settings["qc_ratings"] == ["/data/sub-01_qc-ratings.tsv"]


def test_output_level_defaults_to_standard_and_is_recorded():
    assert tomllib.loads(_config().to_toml())["run"]["output_level"] == "standard"
    full = tomllib.loads(_config(output_level="full").to_toml())["run"]
    assert full["output_level"] == "full"


def test_translation_model_sidecar_keys_and_order(tmp_path, monkeypatch):
    model = TranslationModel(
        checkpoint=Path("/models/res"),
        architecture="res_unet",
        weights_sha256="a" * 64,
        normalisation="white-matter",
        network_grid="128x128x128",
        output_resampling="keep-detail",
    )
    assert list(model.sidecar()) == [
        "Model",
        "Checkpoint",
        "Architecture",
        "WeightsSha256",
        "IntensityNormalisation",
        "NetworkGrid",
        "OutputResampling",
        "ChangeRegion",
        "EnhancementOpening",
    ]
    assert model.sidecar()["Model"] == "res"
    assert model.sidecar()["Checkpoint"] == "/models/res"  # not under the working directory


def test_shipped_model_is_recorded_by_name_and_digest_without_a_path():
    shipped = TranslationModel(
        checkpoint=Path("/opt/site-packages/ce2nce_pipeline/data/default_model"),
        architecture="res_unet",
        weights_sha256="b" * 64,
        name="ce2nce-default",
    )
    sidecar = shipped.sidecar()
    assert sidecar["Model"] == "ce2nce-default" and sidecar["WeightsSha256"] == "b" * 64
    assert "Checkpoint" not in sidecar
    assert "/opt" not in json.dumps(sidecar)


def test_own_checkpoint_under_the_working_directory_is_relative(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = TranslationModel(
        checkpoint=tmp_path / "models" / "att", architecture="att_unet", weights_sha256="c" * 64
    )
    assert model.sidecar()["Checkpoint"] == "models/att"
    assert model.sidecar()["Model"] == "att"


def test_every_output_level_has_a_policy_and_the_cli_offers_each():
    from typing import get_args

    from ce2nce_pipeline.cli.options import build_parser
    from ce2nce_pipeline.config import OutputLevel
    from ce2nce_pipeline.workflows.outputs import OUTPUT_POLICIES

    assert tuple(OUTPUT_POLICIES) == get_args(OutputLevel)
    (action,) = [a for a in build_parser()._actions if a.dest == "output_level"]
    assert tuple(action.choices) == get_args(OutputLevel) and action.default == "standard"
