"""The gadolinium detector in the participant graph: node, sidecar fields, mismatch flag."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nipype.pipeline import engine as pe

from ce2nce_pipeline.interfaces.gadolinium import DetectGadolinium
from ce2nce_pipeline.science.templates import CROP_AFFINE, CROP_SHAPE, template_on_grid
from ce2nce_pipeline.workflows.gadolinium import init_gadolinium_wf
from ce2nce_pipeline.workflows.outputs import OutputLayout, init_ds_t1_linear_wf


@pytest.fixture(scope="module")
def template_file(tmp_path_factory) -> Path:
    """The ICBM 2009a brain on the t1-linear grid: a real non-contrast T1w, placed exactly."""
    path = tmp_path_factory.mktemp("t1linear") / "template_T1w.nii.gz"
    nib.save(nib.Nifti1Image(template_on_grid(CROP_SHAPE, CROP_AFFINE), CROP_AFFINE), path)
    return path


@pytest.mark.parametrize("labelled_ce", [True, False])
def test_a_non_contrast_image_labelled_ce_is_a_mismatch(template_file, tmp_path, labelled_ce):
    result = DetectGadolinium(in_file=str(template_file), labelled_ce=labelled_ce).run(
        cwd=str(tmp_path)
    )
    metadata = result.outputs.metadata
    assert 0.0 <= metadata["GadoliniumProbability"] < 0.5
    detection = metadata["GadoliniumDetection"]
    assert detection["Called"] == "nce"
    assert detection["Label"] == ("ce" if labelled_ce else "nce")
    assert detection["ContrastMismatch"] is labelled_ce
    assert set(detection["Features"]) == {
        "bright_ventricles", "vessels_ventricles", "vessels_deep"
    }  # fmt: skip


def test_an_unplaced_image_gets_no_probability_and_a_reason(template_file, tmp_path):
    image = nib.load(template_file)
    upside_down = tmp_path / "upside_down.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj)[:, :, ::-1], CROP_AFFINE), upside_down)
    result = DetectGadolinium(in_file=str(upside_down), labelled_ce=False).run(cwd=str(tmp_path))
    metadata = result.outputs.metadata
    assert metadata["GadoliniumProbability"] == "n/a"
    assert metadata["GadoliniumDetection"]["ContrastMismatch"] == "n/a"
    assert "did not place" in metadata["GadoliniumDetection"]["Reason"]


def test_both_t1_linear_sidecars_carry_the_probability(template_file, tmp_path):
    """The detector's graph feeding the t1-linear sinks, run on a real image."""
    affine = tmp_path / "affine.mat"
    affine.write_bytes(b"placeholder transform")
    output_dir = tmp_path / "derivatives"
    workflow = pe.Workflow(name="gd_test_wf", base_dir=str(tmp_path / "work"))
    gadolinium_wf = init_gadolinium_wf(labelled_ce=True)
    ds_wf = init_ds_t1_linear_wf(
        layout=OutputLayout(output_dir=str(output_dir)),
        source_entities={"subject": "01", "session": "M000"},
        source_relpath="sub-01/ses-M000/anat/sub-01_ses-M000_T1w.nii.gz",
        software_versions={"ce2nce": "test"},
        output_level="full",
    )
    gadolinium_wf.inputs.inputnode.t1w_crop = str(template_file)
    ds_wf.inputs.inputnode.t1w_crop = str(template_file)
    ds_wf.inputs.inputnode.t1w_registered = str(template_file)
    ds_wf.inputs.inputnode.affine = str(affine)
    ds_wf.inputs.inputnode.qc = {"RegistrationQuality": 1.2}
    workflow.connect(gadolinium_wf, "outputnode.metadata", ds_wf, "inputnode.gadolinium")
    workflow.run()
    sidecars = sorted(output_dir.glob("sub-01/ses-M000/anat/*_T1w.json"))
    assert len(sidecars) == 2  # the cropped and the registered image
    for sidecar in sidecars:
        content = json.loads(sidecar.read_text())
        assert 0.0 <= content["GadoliniumProbability"] < 0.5
        assert content["GadoliniumDetection"]["ContrastMismatch"] is True
        assert content["SpatialReference"] == "MNI152NLin2009cSym"  # the static fields kept
        assert content["RegistrationQuality"] == 1.2  # and the registration's quality


def test_every_image_branch_has_a_detector():
    from ce2nce_pipeline.workflows.base import BRANCH_PREFIXES

    assert "gadolinium" in BRANCH_PREFIXES
    workflow = init_gadolinium_wf(labelled_ce=False)
    assert workflow.get_node("detect").inputs.labelled_ce is False
    assert workflow.__desc__


def test_the_summary_names_mismatched_images_and_says_why_others_are_n_a(tmp_path):
    """Sidecars as the graph writes them; the run's summary line and one line per image."""
    import contextlib
    import io

    from ce2nce_pipeline.bids import T1wImage
    from ce2nce_pipeline.config import RunConfig
    from ce2nce_pipeline.workflows.run import _expected_crop, _report, contrast_checks

    config = RunConfig(tmp_path / "bids", tmp_path / "out", "participant")

    def image(stem: str, agent: str | None) -> T1wImage:
        relative = f"sub-01/ses-M000/anat/{stem}.nii.gz"
        entities = {"subject": "01", "session": "M000"}
        if agent:
            entities["ceagent"] = agent
        return T1wImage(tmp_path / "bids" / relative, relative, entities, agent)

    nce, ce, odd = (
        image("sub-01_ses-M000_T1w", None),
        image("sub-01_ses-M000_ce-gd_T1w", "gd"),
        image("sub-01_ses-M000_acq-x_T1w", None),
    )
    odd = T1wImage(odd.path, odd.relative_path, {**odd.entities, "acquisition": "x"})
    fields = {
        nce: {"GadoliniumProbability": 0.97,
              "GadoliniumDetection": {"ContrastMismatch": True, "Threshold": 0.5}},
        ce: {"GadoliniumProbability": 0.99,
             "GadoliniumDetection": {"ContrastMismatch": False, "Threshold": 0.5}},
        odd: {"GadoliniumProbability": "n/a",
              "GadoliniumDetection": {"ContrastMismatch": "n/a", "Reason": "correlation 0.41"}},
    }  # fmt: skip
    for item, content in fields.items():
        sidecar = _expected_crop(config, item).with_suffix("").with_suffix(".json")
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        sidecar.write_text(json.dumps(content))
    contrast = contrast_checks(config, [nce, ce, odd])
    assert contrast[0] == [nce]
    with contextlib.redirect_stderr(io.StringIO()) as stderr:
        _report(config, 3, [], [], {}, contrast=contrast)
    lines = stderr.getvalue().splitlines()
    assert lines[0].endswith(
        "contrast label contradicted by the gadolinium detector (qc_contrast_mismatch): "
        "sub-01_ses-M000_T1w.nii.gz"
    )
    assert lines[1] == (
        f"ce2nce: contrast mismatch: {nce.path}: labelled non-contrast, gadolinium "
        "probability 0.97 (threshold 0.5)"
    )
    assert lines[2] == f"ce2nce: gadolinium n/a: {odd.path}: correlation 0.41"
    assert len(lines) == 3


def test_contrast_from_reaches_the_settings_and_a_detected_image_is_recorded(
    tmp_path, colin27_tiny
):
    import tomllib

    from ce2nce_pipeline.bids import T1wImage
    from ce2nce_pipeline.cli.parser import parse_args
    from ce2nce_pipeline.workflows.base import init_ce2nce_wf

    from ..conftest import write_dataset

    relative = "sub-01/ses-M000/anat/sub-01_ses-M000_T1w.nii.gz"
    bids = write_dataset(tmp_path / "bids", {relative: colin27_tiny})
    argv = [str(bids), str(tmp_path / "out"), "participant", "--no-translation"]
    assert parse_args(argv).contrast_from == "labels"
    config = parse_args([*argv, "--contrast-from", "both"])
    assert tomllib.loads(config.to_toml())["run"]["contrast_from"] == "both"
    detected = T1wImage(
        bids / relative, relative, {"subject": "01", "session": "M000"},
        contrast_agent="detected", contrast_detected=True,
    )  # fmt: skip
    workflow = init_ce2nce_wf(config, [detected], {"ce2nce": "test"})
    (name,) = [n for n in workflow.list_node_names() if n.endswith(".detect")]
    inputs = workflow.get_node(name).inputs
    assert (inputs.labelled_ce, inputs.detected_ce) == (False, True)


def test_an_unknown_contrast_source_is_one_line(tmp_path, colin27_tiny, capsys):
    from ce2nce_pipeline.cli.run import main

    from ..conftest import write_dataset

    relative = "sub-01/ses-M000/anat/sub-01_ses-M000_T1w.nii.gz"
    bids = write_dataset(tmp_path / "bids", {relative: colin27_tiny})
    with pytest.raises(SystemExit) as raised:
        main([str(bids), str(tmp_path / "out"), "participant", "--contrast-from", "detector"])
    assert raised.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("ce2nce: error: argument --contrast-from: invalid choice: 'detector'")
