"""ce2nce in Clinica 0.12: the command, the graph on Clinica's own fake datasets, bad input.

Needs the ``clinica`` extra (``pip install -e '.[clinica]'``); skipped without it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import nibabel as nib
import pytest

pytest.importorskip("clinica", reason="the clinica extra is not installed: pip install .[clinica]")

from click.testing import CliRunner  # noqa: E402
from clinica.cmdline import CONTEXT_SETTINGS  # noqa: E402
from clinica.pipelines.cli import cli as run_cli  # noqa: E402
from clinica.utils.testing_utils import (  # noqa: E402
    build_bids_directory,
    build_caps_directory,
)

import ce2nce_pipeline.clinica.cli  # noqa: E402,F401  (adds "ce2nce" to Clinica's run group)
from ce2nce_pipeline.clinica.caps import ce2nce_done_marks  # noqa: E402
from ce2nce_pipeline.clinica.pipeline import Ce2nce  # noqa: E402
from ce2nce_pipeline.errors import InvalidInputError  # noqa: E402

from .conftest import tree_checksums  # noqa: E402

CE = "ce-gadolinium_T1w"


def _bids(tmp_path, colin27_tiny, subjects=None):
    """Clinica's fake BIDS dataset with a ce and a nce T1w per session, made real images."""
    bids = build_bids_directory(
        tmp_path / "bids", subjects or {"sub-01": ["ses-M000"]}, modalities={"anat": ("T1w", CE)}
    )
    for image in bids.rglob("*.nii.gz"):
        shutil.copyfile(colin27_tiny, image)
    for sidecar in bids.rglob("*.json"):
        if sidecar.name != "dataset_description.json":
            sidecar.write_text("{}")
    return bids


def _pipeline(bids, caps, tmp_path, **parameters):
    return Ce2nce(
        bids_directory=str(bids),
        caps_directory=str(caps),
        base_dir=str(tmp_path / "work"),
        parameters={"model": None, "mask_backend": "template", **parameters},
    )


def _node_names(pipeline):
    return {name.split(".")[-2] for name in pipeline.list_node_names() if "." in name}


def test_clinica_run_lists_and_parses_ce2nce():
    runner = CliRunner()
    listing = runner.invoke(run_cli, ["-h"], **CONTEXT_SETTINGS)
    assert listing.exit_code == 0 and "ce2nce" in listing.output
    result = runner.invoke(run_cli, ["ce2nce", "-h"], **CONTEXT_SETTINGS)
    assert result.exit_code == 0, result.output
    for option in ("BIDS_DIRECTORY CAPS_DIRECTORY", "--model", "--no-translation",
                   "--mask-backend", "--seg-backend", "--n_procs", "--working_directory",
                   "--subjects_sessions_tsv", "Pipeline-specific options"):  # fmt: skip
        assert option in result.output
    bad = runner.invoke(run_cli, ["ce2nce", ".", "caps", "--mask-backend", "bet"])
    assert bad.exit_code == 2 and "'bet' is not one of" in bad.output


def test_console_script_is_clinicas_command_line_with_ce2nce(tmp_path):
    command = "from ce2nce_pipeline.clinica import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", command, "run", "ce2nce", "-h"],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: ") and "run ce2nce [OPTIONS] BIDS_DIRECTORY" in (
        result.stdout
    )
    other = subprocess.run(
        [sys.executable, "-c", command, "run", "-h"],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert "t1-linear" in other.stdout and "ce2nce" in other.stdout


def test_graph_keeps_a_session_with_both_ce_and_nce(tmp_path, colin27_tiny):
    # Clinica's own query (sub-*_ses-*_t1w.nii*) matches both images and drops the session.
    bids = _bids(tmp_path, colin27_tiny)
    pipeline = _pipeline(bids, tmp_path / "caps", tmp_path).build()
    names = _node_names(pipeline)
    assert {"t1_linear_ses_M000_wf", "t1_linear_ses_M000_ce_gadolinium_wf",
            "segmentation_ses_M000_wf", "segmentation_ses_M000_ce_gadolinium_wf",
            "union_mask_ses_M000_ce_gadolinium_wf"} <= names  # fmt: skip
    assert not [name for name in names if name.startswith("translate_")]  # model None
    description = json.loads((tmp_path / "caps" / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert description["Processing"][0]["Name"] == "ce2nce"


def test_registration_schedule_reaches_every_registration_node(tmp_path, colin27_tiny):
    bids = _bids(tmp_path, colin27_tiny)
    pipeline = _pipeline(bids, tmp_path / "caps", tmp_path, registration="clinica").build()
    nodes = [
        pipeline.get_node(n) for n in pipeline.list_node_names() if n.endswith(".registration")
    ]
    kinds = sorted(type(node.interface).__name__ for node in nodes)
    # The T1w-nce goes to the template with Clinica's schedule; the T1w-ce of its session is
    # aligned to it (a pair in register), then through its transform.
    assert kinds == ["AffineRegistration", "PairRegistration"]
    assert {n.inputs.schedule for n in nodes if hasattr(n.inputs, "schedule")} == {"clinica"}
    bad = CliRunner().invoke(run_cli, ["ce2nce", ".", "caps", "--registration", "slow"])
    assert bad.exit_code == 2 and "'slow' is not one of" in bad.output


def test_one_bad_image_never_stops_the_others(tmp_path, colin27_tiny):
    import nipype

    bids = _bids(tmp_path, colin27_tiny)
    previous = nipype.config.get("execution", "stop_on_first_crash")
    nipype.config.set("execution", "stop_on_first_crash", "true")  # what Clinica's CLI does
    try:
        pipeline = _pipeline(bids, tmp_path / "caps", tmp_path)
    finally:
        nipype.config.set("execution", "stop_on_first_crash", previous)
    assert pipeline.config["execution"]["stop_on_first_crash"] == "false"


def test_existing_t1_linear_outputs_replace_t1_linear_and_a_corrupt_one_is_refused(
    tmp_path, colin27_tiny
):
    bids = _bids(tmp_path, colin27_tiny, {"sub-01": ["ses-M000"], "sub-02": ["ses-M000"]})
    caps = build_caps_directory(
        tmp_path / "caps",
        {"pipelines": {"t1_linear": {}}, "subjects": {"sub-02": ["ses-M000"]}},
    )
    # Clinica's fake t1-linear output of sub-02 is an empty file: refused in one line.
    pipeline = _pipeline(bids, caps, tmp_path).build()
    (line,) = pipeline.rejected
    crop = "sub-02_ses-M000_space-MNI152NLin2009cSym_desc-Crop_res-1x1x1_T1w.nii.gz"
    assert line.startswith("sub-02 ses-M000 left out: ")
    assert str(caps / "subjects/sub-02/ses-M000/t1_linear" / crop) in line
    assert "delete it to recompute it" in line and "\n" not in line
    assert "sub_02_wf" not in {name.split(".")[0] for name in pipeline.list_node_names()}
    assert "sub_01_wf" in {name.split(".")[0] for name in pipeline.list_node_names()}


def test_visits_done_are_skipped(tmp_path, colin27_tiny):
    bids = _bids(tmp_path, colin27_tiny, {"sub-01": ["ses-M000", "ses-M006"]})
    caps = tmp_path / "caps"
    pipeline = _pipeline(bids, caps, tmp_path)
    for image in pipeline._visit_images()[pipeline.visits[0]]:
        for mark in ce2nce_done_marks(caps, image, translated=False):
            mark.parent.mkdir(parents=True, exist_ok=True)
            mark.write_text("tissue\tvolume_cm3\n")
    pipeline = _pipeline(bids, caps, tmp_path)
    assert [str(v) for v in pipeline.get_processed_visits()] == ["sub-01 ses-M000"]
    names = pipeline.build().list_node_names()
    assert all("ses_M000" not in name for name in names)
    assert any("t1_linear_ses_M006_wf" in name for name in names)
    processed = pipeline.get_processed_images(
        caps_directory=caps, subjects=["sub-01", "sub-01"], sessions=["ses-M000", "ses-M006"]
    )
    assert processed == ["sub-01_ses-M000"]


def test_a_folder_that_is_not_a_caps_is_refused_and_left_alone(tmp_path, colin27_tiny):
    bids = _bids(tmp_path, colin27_tiny)
    not_caps = tmp_path / "results"
    not_caps.mkdir()
    (not_caps / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not a CAPS folder .no dataset_description"):
        _pipeline(bids, not_caps, tmp_path)
    (not_caps / "dataset_description.json").write_text('{"DatasetType": "raw"}')
    with pytest.raises(InvalidInputError, match="DatasetType 'raw'"):
        _pipeline(bids, not_caps, tmp_path)
    assert sorted(p.name for p in not_caps.iterdir()) == ["dataset_description.json", "notes.txt"]
    result = CliRunner().invoke(run_cli, ["ce2nce", str(bids), str(not_caps), "-np", "1"])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {not_caps}: not a CAPS folder")
    assert len(result.output.strip().splitlines()) == 1


def test_bids_without_sessions_is_refused_without_asking(tmp_path, colin27_tiny):
    bids = _bids(tmp_path, colin27_tiny)
    anat = bids / "sub-02" / "anat"
    anat.mkdir(parents=True)
    shutil.copyfile(colin27_tiny, anat / "sub-02_T1w.nii.gz")
    before = tree_checksums(bids)
    result = CliRunner().invoke(
        run_cli, ["ce2nce", str(bids), str(tmp_path / "caps"), "-np", "1"], input=""
    )
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"Error: {bids / 'sub-02'}: no ses-* folder")
    assert "Aborted" not in result.output and "[y/N]" not in result.output
    assert tree_checksums(bids) == before
    assert not (tmp_path / "caps").exists()
    assert not (tmp_path / "bids_clinica_compliant").exists()


def test_images_are_read_not_written(tmp_path, colin27_tiny):
    bids = _bids(tmp_path, colin27_tiny)
    before = tree_checksums(bids)
    _pipeline(bids, tmp_path / "caps", tmp_path).build()
    assert tree_checksums(bids) == before
    assert nib.load(next(bids.rglob(f"*{CE}.nii.gz"))).shape == nib.load(colin27_tiny).shape


def test_bids_filter_file_chooses_the_images_of_a_visit(tmp_path, colin27_tiny):
    bids = _bids(tmp_path, colin27_tiny)
    anat = bids / "sub-01" / "ses-M000" / "anat"
    shutil.copyfile(colin27_tiny, anat / "sub-01_ses-M000_acq-localiser_T1w.nii.gz")
    unfiltered = _node_names(_pipeline(bids, tmp_path / "caps", tmp_path).build())
    assert "t1_linear_ses_M000_acq_localiser_wf" in unfiltered
    path = tmp_path / "filter.json"
    path.write_text(json.dumps({"t1w": {"acquisition": None}}))
    pipeline = _pipeline(bids, tmp_path / "caps2", tmp_path, bids_filter_file=str(path))
    names = _node_names(pipeline.build())
    assert "t1_linear_ses_M000_wf" in names
    assert "t1_linear_ses_M000_acq_localiser_wf" not in names
    path.write_text(json.dumps({"t1w": {"acq": None}}))
    with pytest.raises(InvalidInputError, match=f"{path}: query 't1w' names unknown entity"):
        _pipeline(bids, tmp_path / "caps3", tmp_path, bids_filter_file=str(path)).build()
