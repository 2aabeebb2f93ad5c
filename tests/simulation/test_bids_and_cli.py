"""The BIDS writer (validated by bids-validator-deno) and ``ce2nce simulate``."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from ce2nce_pipeline.cli.simulate import main
from ce2nce_pipeline.simulation.bids_writer import SimulatedSession, write_bids_dataset
from ce2nce_pipeline.simulation.simulator import SimulationParameters

VALIDATOR = Path(sys.executable).parent / "bids-validator-deno"


def _errors(root: Path) -> list[dict]:
    if not VALIDATOR.is_file():
        pytest.fail(f"{VALIDATOR} missing: pip install bids-validator-deno")
    done = subprocess.run(
        [str(VALIDATOR), "--format", "json", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(done.stdout)
    return [i for i in report["issues"]["issues"] if i.get("severity") == "error"]


def _image(seed: int) -> nib.Nifti1Image:
    data = np.random.default_rng(seed).random((12, 14, 10)).astype(np.float32)
    image = nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0]))
    image.header.set_xyzt_units("mm")
    return image


def test_writer_output_is_valid_bids_and_atomic(tmp_path):
    root = tmp_path / "ds"
    sessions = [
        SimulatedSession(
            "01",
            "M000",
            _image(0),
            _image(1),
            {},
            {"SimulationSeed": 1},
            {"base_image": "colin27"},
        ),
        SimulatedSession(
            "02", "M000", None, _image(2), {}, {"SimulationSeed": 2}, {"base_image": "colin27"}
        ),
        SimulatedSession("02", "M012", _image(3), _image(4), {}, {}, {"lesions": "none"}),
    ]
    written = write_bids_dataset(root, sessions)
    assert len(written) == 5
    assert (root / "sub-01/ses-M000/anat/sub-01_ses-M000_ce-gadolinium_T1w.nii.gz").is_file()
    assert not (root / "sub-02/ses-M000/anat/sub-02_ses-M000_T1w.nii.gz").exists()
    assert not list(root.rglob(".*tmp*")), "temporary files left behind"
    sidecar = json.loads(
        (root / "sub-01/ses-M000/anat/sub-01_ses-M000_ce-gadolinium_T1w.json").read_text()
    )
    assert sidecar["ContrastBolusIngredient"] == "GADOLINIUM" and sidecar["SimulationSeed"] == 1
    rows = (root / "participants.tsv").read_text().splitlines()
    assert rows[0].split("\t") == ["participant_id", "base_image", "lesions"]
    assert rows[2].split("\t") == ["sub-02", "colin27", "none"]
    assert _errors(root) == []


def test_writer_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match="alphanumeric"):
        write_bids_dataset(tmp_path / "a", [SimulatedSession("0_1", None, _image(0))])
    with pytest.raises(ValueError, match="no image"):
        write_bids_dataset(tmp_path / "b", [SimulatedSession("01", None)])
    with pytest.raises(ValueError, match="twice"):
        write_bids_dataset(tmp_path / "c", [SimulatedSession("01", None, _image(0))] * 2)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        write_bids_dataset(tmp_path / "d", [SimulatedSession("01", None, _image(0))])


def test_cli_writes_a_valid_dataset_with_every_parameter(tmp_path, capsys):
    root = tmp_path / "sim"
    code = main(
        [
            str(root),
            "--n-subjects",
            "2",
            "--seed",
            "3",
            "--size",
            "small",
            "--space",
            "mni",
            "--low-quality-fraction",
            "0.5",
            "--ce-only-fraction",
            "0.5",
        ]
    )
    assert code == 0
    assert "wrote 3 images for 2 subjects" in capsys.readouterr().out
    ce_files = sorted(root.rglob("*_ce-gadolinium_T1w.nii.gz"))
    nce_files = sorted(root.rglob("*_T1w.nii.gz"))
    assert len(ce_files) == 2 and len(nce_files) == 3
    sidecar = json.loads(
        ce_files[0].with_name(ce_files[0].name.replace(".nii.gz", ".json")).read_text()
    )
    assert set(sidecar["SimulationParameters"]) == {f.name for f in fields(SimulationParameters)}
    assert isinstance(sidecar["SimulationSeed"], int)
    assert sidecar["AugmentationParameters"]["gamma"] > 0
    qualities = [
        line.split("\t")[3] for line in (root / "participants.tsv").read_text().splitlines()[1:]
    ]
    assert sorted(qualities) == ["good", "low"]
    ce = nib.load(ce_files[0])
    assert np.allclose(ce.header.get_zooms(), 2.0)
    assert _errors(root) == []


def test_cli_components_switch(tmp_path):
    root = tmp_path / "only"
    assert (
        main(
            [
                str(root),
                "--n-subjects",
                "1",
                "--size",
                "small",
                "--space",
                "mni",
                "--components",
                "venous_sinuses",
                "--no-session",
                "--no-augmentation",
                "--low-quality-fraction",
                "0",
            ]
        )
        == 0
    )
    sidecar = json.loads(next(root.rglob("*_ce-gadolinium_T1w.json")).read_text())
    enabled = [k for k, v in sidecar["SimulationParameters"].items() if v is True]
    assert enabled == ["venous_sinuses"]
    assert (root / "sub-01" / "anat").is_dir()


def test_cli_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path), "--n-subjects", "0"])
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main([str(tmp_path / "x"), "--base", "colin28"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "colin28" in err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    assert main([str(tmp_path / "full")]) == 1
    assert "not empty" in capsys.readouterr().err
