"""End to end: the participant level on a small real dataset (Colin27 at 2 mm)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import tomllib

import nibabel as nib
import numpy as np
import pytest

from ce2nce_pipeline.bids import collect_t1w_images
from ce2nce_pipeline.bids_validation import validate_dataset
from ce2nce_pipeline.cli.run import main
from ce2nce_pipeline.config import RunConfig
from ce2nce_pipeline.derivatives import software_versions
from ce2nce_pipeline.science.templates import CROP_AFFINE, MNI2009C_AFFINE
from ce2nce_pipeline.workflows.base import init_ce2nce_wf
from ce2nce_pipeline.workflows.progress import RunProgress
from ce2nce_pipeline.workflows.run import _report

from .conftest import tree_checksums, write_dataset

pytestmark = pytest.mark.slow

SPACE = "space-MNI152NLin2009cSym"


@pytest.fixture(scope="module")
def brightened(colin27_2mm, tmp_path_factory):
    """A second, different real image: Colin27 with brighter bright voxels (ce-like)."""
    image = nib.load(colin27_2mm)
    data = image.get_fdata(dtype=np.float32)
    data = data + 0.5 * np.clip(data - np.percentile(data, 90), 0, None)
    path = tmp_path_factory.mktemp("ce") / "ce.nii.gz"
    nib.save(nib.Nifti1Image(data, image.affine), path)
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, colin27_2mm):
    """A real tiny Att-U-Net checkpoint, briefly trained towards identity on Colin27 patches.

    The network is fully convolutional: 32-voxel patches train it in seconds, and it then maps a
    128-voxel volume to a non-constant image (an untrained one outputs a constant).
    """
    import torch

    from ce2nce_pipeline.models import build_preset, save_checkpoint

    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = build_preset("att_unet", "tiny")
    data = nib.load(colin27_2mm).get_fdata(dtype=np.float32)
    data = torch.from_numpy(data / data.max())
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(60):
        x, y, z = (int(rng.integers(0, size - 32)) for size in data.shape)
        patch = data[x : x + 32, y : y + 32, z : z + 32][None, None]
        optimizer.zero_grad()
        torch.nn.functional.l1_loss(model(patch), patch).backward()
        optimizer.step()
    model.eval()
    return save_checkpoint(model, tmp_path_factory.mktemp("model") / "att_unet_tiny")


@pytest.fixture(scope="module")
def run(tmp_path_factory, colin27_2mm, brightened, checkpoint):
    """Run the participant level twice with one work dir; return paths and timings."""
    root = tmp_path_factory.mktemp("e2e")
    bids = write_dataset(
        root / "bids",
        {
            "sub-01/ses-M000/anat/sub-01_ses-M000_T1w.nii.gz": colin27_2mm,
            "sub-01/ses-M000/anat/sub-01_ses-M000_ce-gadolinium_T1w.nii.gz": brightened,
            "sub-02/anat/sub-02_T1w.nii.gz": colin27_2mm,
        },
    )
    before = tree_checksums(bids)
    out, work = root / "out", root / "work"
    argv = [str(bids), str(out), "participant", "-w", str(work), "--nprocs", "2"]
    # Template masks: HD-BET, the default and the dearest step, runs in the demo and real-pair
    # tests; here the graph, its outputs and its reruns are what is tested.
    argv += ["--model", str(checkpoint), "--device", "cpu", "--mask-backend", "template"]
    with contextlib.redirect_stderr(io.StringIO()) as first_stderr:
        first = main(argv)
    registration_results = sorted(work.rglob("registration/result_registration.pklz"))
    stamps = {path: path.stat().st_mtime_ns for path in registration_results}
    crop = out / "sub-01/ses-M000/anat" / f"sub-01_ses-M000_{SPACE}_res-1x1x1_desc-Crop_T1w.nii.gz"
    crop.unlink()  # a lost output is restored from the cache
    with contextlib.redirect_stderr(io.StringIO()) as second_stderr:
        second = main([*argv, "-q"])
    group = main([str(bids), str(out), "group"])
    # The other output levels, from the same work dir: only the sinks and reports run again.
    levels = {"standard": (out, (first, group))}
    for level in ("full", "minimal"):
        level_out = root / f"out_{level}"
        level_argv = [str(bids), str(level_out), *argv[2:], "-q", "--output-level", level]
        with contextlib.redirect_stderr(io.StringIO()):
            codes = (main(level_argv), main([str(bids), str(level_out), "group"]))
        levels[level] = (level_out, codes)
    return {
        "bids": bids, "out": out, "work": work, "codes": (first, second, group), "before": before,
        "stamps": stamps, "after": tree_checksums(bids),
        "stderr": (first_stderr.getvalue(), second_stderr.getvalue()), "levels": levels,
    }  # fmt: skip


def test_exit_codes_and_input_untouched(run):
    assert run["codes"] == (0, 0, 0)
    assert run["after"] == run["before"]


def test_progress_lines_per_stage_and_image_in_order(run):
    """One line per finished stage of each image, the count of images done, then the summary."""
    lines = [line for line in run["stderr"][0].splitlines() if line.startswith("ce2nce: ")]
    assert lines[0] == "ce2nce: 3 T1w images to process (1 contrast-enhanced)"
    # The "ce" here is a brightened Colin27 without gadolinium: the detector says so, the
    # summary names it and the last line gives its probability.
    assert lines[-2].startswith("ce2nce: 3 of 3 T1w image(s) processed; 0 failed, 0 rejected")
    assert lines[-2].endswith(
        "contrast label contradicted by the gadolinium detector (qc_contrast_mismatch): "
        "sub-01_ses-M000_ce-gadolinium_T1w.nii.gz"
    )
    assert re.fullmatch(
        r"ce2nce: contrast mismatch: \S+/sub-01_ses-M000_ce-gadolinium_T1w\.nii\.gz: labelled "
        r"contrast-enhanced, gadolinium probability 0\.\d+ \(threshold 0\.5\)",
        lines[-1],
    )
    lines = lines[:-1]
    # Stages that depend on each other, in their order (a T1w-ce: two chains after t1-linear).
    own = ["N4", "registration", "brain mask", "segmentation"]
    synthetic = ["translation", "brain mask of the synthetic T1w-nce"]
    synthetic += ["segmentation of the synthetic T1w-nce"]
    chains = {
        "sub-01_ses-M000_T1w": [own],
        "sub-02_T1w": [own],
        "sub-01_ses-M000_ce-gadolinium_T1w": [own, own[:2] + synthetic],
    }
    done = [re.fullmatch(r"ce2nce: (\d)/3 images done \((\S+) in (.+)\)", line) for line in lines]
    done = [match for match in done if match]
    assert [match[1] for match in done] == ["1", "2", "3"]
    assert sorted(match[2] for match in done) == sorted(chains)
    duration = r"\d\.\d s|\d+ s|\d+ min \d\d s"
    for image, image_chains in chains.items():
        finished = {
            match[1]: index
            for index, line in enumerate(lines)
            if (match := re.fullmatch(rf"ce2nce: {image}: (.+) done in ({duration})", line))
        }
        stage_lines = [line for line in lines if line.startswith(f"ce2nce: {image}: ")]
        assert len(finished) == len(stage_lines)  # each stage once, with its time
        assert set(finished) == {stage for chain in image_chains for stage in chain}
        for chain in image_chains:
            assert [finished[stage] for stage in chain] == sorted(finished[s] for s in chain)
        (count_line,) = [index for index, line in enumerate(lines) if f"done ({image} in " in line]
        assert max(finished.values()) < count_line
    # Nothing but ce2nce's own lines; no library's warning.
    assert "NIftI" not in run["stderr"][0] and "Warning" not in run["stderr"][0]


def test_quiet_run_prints_nothing_when_all_succeed(run):
    """Nothing but what must never be silent: the ce label the gadolinium detector contradicts
    (the test's "ce" is a brightened Colin27)."""
    assert run["codes"][1] == 0
    lines = run["stderr"][1].splitlines()
    assert len(lines) == 2
    assert "qc_contrast_mismatch" in lines[0] and lines[1].startswith("ce2nce: contrast mismatch")


def test_clinica_names_shapes_and_affines(run):
    full_out, _ = run["levels"]["full"]
    anat = full_out / "sub-01" / "ses-M000" / "anat"
    standard = run["out"] / "sub-01" / "ses-M000" / "anat"
    for stem in ("sub-01_ses-M000", "sub-01_ses-M000_ce-gadolinium"):
        crop = nib.load(anat / f"{stem}_{SPACE}_res-1x1x1_desc-Crop_T1w.nii.gz")
        registered = nib.load(anat / f"{stem}_{SPACE}_res-1x1x1_T1w.nii.gz")
        assert crop.shape == (169, 208, 179)
        np.testing.assert_array_equal(crop.affine, CROP_AFFINE)
        assert registered.shape == (193, 229, 193)
        np.testing.assert_array_equal(registered.affine, MNI2009C_AFFINE)
        assert crop.get_data_dtype() == np.float32
        # The crop is exactly Clinica's box of the registered image.
        np.testing.assert_array_equal(
            np.asarray(crop.dataobj), np.asarray(registered.dataobj)[12:181, 13:221, 0:179]
        )
        assert (anat / f"{stem}_{SPACE}_res-1x1x1_affine.mat").is_file()
        # The default level: no uncropped image; the crop as 16-bit integers scaled back to
        # the same values within half a step of its scale factor.
        assert not (standard / f"{stem}_{SPACE}_res-1x1x1_T1w.nii.gz").exists()
        assert (standard / f"{stem}_{SPACE}_res-1x1x1_affine.mat").is_file()
        stored = nib.load(standard / f"{stem}_{SPACE}_res-1x1x1_desc-Crop_T1w.nii.gz")
        assert stored.get_data_dtype() == np.int16
        np.testing.assert_array_equal(stored.affine, CROP_AFFINE)
        values, exact = stored.get_fdata(), crop.get_fdata()
        step = float(stored.dataobj.slope)
        assert 0 < step <= np.abs(exact).max() / 32767 * (1 + 1e-6)
        assert np.abs(values - exact).max() <= step * 0.5001
        assert np.all(values[exact == 0] == 0)  # the background stays exactly zero
    assert (
        run["out"] / "sub-02/anat" / f"sub-02_{SPACE}_res-1x1x1_desc-Crop_T1w.nii.gz"
    ).is_file()


def test_ce_image_gets_a_synthetic_nce_with_its_model_recorded(run, checkpoint):
    from ce2nce_pipeline.models import read_metadata

    anat = run["out"] / "sub-01" / "ses-M000" / "anat"
    stem = f"sub-01_ses-M000_ce-gadolinium_{SPACE}_res-1x1x1_desc-synthetic_T1w"
    synthetic = nib.load(anat / f"{stem}.nii.gz")
    assert synthetic.shape == (169, 208, 179)
    np.testing.assert_array_equal(synthetic.affine, CROP_AFFINE)
    crop = nib.load(anat / f"sub-01_ses-M000_ce-gadolinium_{SPACE}_res-1x1x1_desc-Crop_T1w.nii.gz")
    data, source = np.asarray(synthetic.dataobj), np.asarray(crop.dataobj)
    # Intensities are mapped back to the source's range, and the network changed the image.
    assert source.min() - 1e-3 <= data.min() and data.max() <= source.max() + 1e-3
    assert not np.allclose(data, source)
    sidecar = json.loads((anat / f"{stem}.json").read_text())
    assert sidecar["ComputeDevice"] == "cpu"  # --device cpu: the device that ran
    model = sidecar["TranslationModel"]
    assert model["WeightsSha256"] == read_metadata(checkpoint)["weights"]["sha256"]
    assert model["Architecture"] == "att_unet"
    # Only contrast-enhanced images are translated.
    assert not list(run["out"].rglob("sub-01_ses-M000_space-*desc-synthetic*"))
    assert not list((run["out"] / "sub-02").rglob("*desc-synthetic*"))


def test_masks_tissue_maps_and_volumes(run):
    import pandas as pd

    anat = run["out"] / "sub-01" / "ses-M000" / "anat"
    res = f"{SPACE}_res-1x1x1"
    masks = {}
    for stem in ("sub-01_ses-M000", "sub-01_ses-M000_ce-gadolinium"):
        masks[stem] = np.asarray(nib.load(anat / f"{stem}_{res}_desc-brain_mask.nii.gz").dataobj)
        assert masks[stem].shape == (169, 208, 179)
        probsegs = [
            np.asarray(nib.load(anat / f"{stem}_{res}_label-{tissue}_probseg.nii.gz").dataobj)
            for tissue in ("GM", "WM", "CSF")
        ]
        # Stored as 8-bit (the default level): each map within half of 1/255 of its value.
        assert np.all(sum(probsegs) <= 1.0 + 1.5 / 255 + 1e-6)
        dseg = np.asarray(nib.load(anat / f"{stem}_{res}_dseg.nii.gz").dataobj)
        assert set(np.unique(dseg)) <= {0, 1, 2, 3}
        assert (anat / f"{stem}_{res}_dseg.tsv").is_file()
        volumes = pd.read_csv(anat / f"{stem}_{res}_volumes.tsv", sep="\t").iloc[0]
        # Volumes are the dseg voxel counts (1 mm voxels, cm3), TIV their sum.
        assert volumes["GM_cm3"] == pytest.approx(np.sum(dseg == 1) / 1000, abs=1e-3)
        assert volumes["TIV_cm3"] == pytest.approx(np.sum(dseg > 0) / 1000, abs=1e-3)
        assert 900 < volumes["TIV_cm3"] < 2200  # an adult head, whatever the backend
    union = np.asarray(
        nib.load(anat / f"sub-01_ses-M000_ce-gadolinium_{res}_desc-union_mask.nii.gz").dataobj
    )
    np.testing.assert_array_equal(
        union > 0, (masks["sub-01_ses-M000"] > 0) | (masks["sub-01_ses-M000_ce-gadolinium"] > 0)
    )
    synthetic = f"sub-01_ses-M000_ce-gadolinium_{res}"
    for name in ("label-GM_desc-synthetic_probseg.nii.gz", "desc-synthetic_dseg.nii.gz",
                 "desc-synthetic_volumes.tsv"):  # fmt: skip
        assert (anat / f"{synthetic}_{name}").is_file()
    # The synthetic image is segmented inside its own brain mask, not the T1w-ce's.
    synthetic_mask = np.asarray(
        nib.load(anat / f"{synthetic}_desc-syntheticbrain_mask.nii.gz").dataobj
    )
    synthetic_dseg = np.asarray(nib.load(anat / f"{synthetic}_desc-synthetic_dseg.nii.gz").dataobj)
    assert synthetic_mask.any() and not np.any(synthetic_dseg[synthetic_mask == 0])


def _image_bytes(folder) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*.nii.gz"))


def test_output_levels_write_less_and_give_the_same_group_tables(run):
    """Every level passes the validator and gives the group level the same volumes."""
    import pandas as pd

    outs = {level: out for level, (out, _) in run["levels"].items()}
    assert {level: codes for level, (_, codes) in run["levels"].items()} == {
        level: (0, 0) for level in ("standard", "full", "minimal")
    }
    sizes = {level: _image_bytes(out) for level, out in outs.items()}
    assert sizes["minimal"] < sizes["standard"] < sizes["full"] / 2
    anat = "sub-01/ses-M000/anat"
    gm = f"sub-01_ses-M000_{SPACE}_res-1x1x1_label-GM_probseg.nii.gz"
    assert not (outs["minimal"] / anat / gm).exists()
    full_gm, standard_gm = (nib.load(outs[level] / anat / gm) for level in ("full", "standard"))
    assert standard_gm.get_data_dtype() == np.uint8
    assert np.abs(standard_gm.get_fdata() - full_gm.get_fdata()).max() <= 0.5 / 255 + 1e-6
    tables = {
        level: pd.read_csv(out / "group" / "features.tsv", sep="\t") for level, out in outs.items()
    }
    reference = tables["full"]
    for level in ("standard", "minimal"):
        table = tables[level]
        assert list(table.columns) == list(reference.columns)
        for column in reference.columns:
            if column.endswith("_cm3"):  # from the graph's own images, whatever is stored
                np.testing.assert_array_equal(table[column], reference[column])
            elif pd.api.types.is_float_dtype(reference[column]):  # QC, from stored images
                np.testing.assert_allclose(table[column], reference[column], rtol=1e-3, atol=1e-3)
        assert validate_dataset(outs[level]) == []
        assert (outs[level] / "sub-01.html").is_file()


def test_group_level_on_the_real_outputs(run):
    import pandas as pd

    group = run["out"] / "group"
    features = pd.read_csv(group / "features.tsv", sep="\t")
    # One row per session; sub-01's volumes come from its real nce, not the synthetic.
    assert len(features) == 2
    row = features[features["participant_id"] == "sub-01"].iloc[0]
    assert not row["synthetic"]
    for name in ("table1_similarity.tsv", "table2_rAD.tsv", "table3_dice.tsv"):
        assert (group / "validation" / name).stat().st_size > 0
    assert (group / "figures" / "relative_differences_rD.png").stat().st_size > 0


def test_reports_and_flip_uncertainty_are_written(run):
    out = run["out"]
    for participant in ("sub-01", "sub-02"):
        page = (out / f"{participant}.html").read_text()
        assert "t1-linear result and the template" in page
        assert any((out / participant / "figures").glob("*_desc-t1linear_T1w.svg"))
    ce = f"sub-01_ses-M000_ce-gadolinium_{SPACE}"
    assert (out / "sub-01" / "figures" / f"{ce}_desc-synthetic_T1w.svg").is_file()
    assert "Enhancement removed" in (out / "sub-01.html").read_text()
    sd = nib.load(out / "sub-01/ses-M000/anat" / f"{ce}_res-1x1x1_desc-flipsd_T1w.nii.gz")
    assert sd.shape == (169, 208, 179) and float(np.asarray(sd.dataobj).max()) > 0
    features = (out / "group" / "features.tsv").read_text()
    assert "qc_flip_uncertainty_percent" in features
    assert "sub-01.html" in (out / "group.html").read_text()


def test_tampered_model_is_refused_before_any_work(tmp_path, colin27_tiny, checkpoint, capsys):
    import shutil

    tampered = tmp_path / "tampered"
    shutil.copytree(checkpoint, tampered)
    weights = tampered / "weights.safetensors"
    payload = bytearray(weights.read_bytes())
    payload[-1] ^= 0xFF
    weights.write_bytes(bytes(payload))
    bids = write_dataset(tmp_path / "bids", {"sub-01/anat/sub-01_ce-gd_T1w.nii.gz": colin27_tiny})
    out = tmp_path / "out"
    assert main([str(bids), str(out), "participant", "--model", str(tampered)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "tampered" in err and "sha256" in err
    assert not out.exists()


def test_ce_images_with_translation_off_are_announced_in_one_line(tmp_path, capsys):
    from ce2nce_pipeline.workflows.prepare import check_translation_model

    config = RunConfig(tmp_path, tmp_path / "out", "participant")
    assert check_translation_model(config, n_ce=2) is None
    err = capsys.readouterr().err.strip()
    assert (
        len(err.splitlines()) == 1
        and "2 contrast-enhanced image(s)" in err
        and "--no-translation" in err
    )


def test_registered_head_overlaps_the_template_brain(run):
    from ce2nce_pipeline.science.templates import registration_template

    template, _ = registration_template()
    brain = np.asarray(template.dataobj)[12:181, 13:221, 0:179] > 0
    anat = run["out"] / "sub-02" / "anat"
    crop = np.asarray(nib.load(anat / f"sub-02_{SPACE}_res-1x1x1_desc-Crop_T1w.nii.gz").dataobj)
    # Colin27's brain (bright, non-zero) fills the template's brain after registration.
    inside = crop[brain]
    assert np.mean(inside > 0.2 * np.percentile(crop, 99)) > 0.9


def test_sidecars_and_dataset_description(run):
    out = run["out"]
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert description["GeneratedBy"][0]["Name"] == "ce2nce"
    assert description["SourceDatasets"][0]["URL"] == run["bids"].as_uri()
    sidecar = json.loads(
        (out / f"sub-02/anat/sub-02_{SPACE}_res-1x1x1_desc-Crop_T1w.json").read_text()
    )
    assert sidecar["Sources"] == ["bids:raw:sub-02/anat/sub-02_T1w.nii.gz"]
    assert sidecar["SpatialReference"] == "MNI152NLin2009cSym"
    assert sidecar["ProcessingSoftwareVersions"]["antspyx"] == software_versions()["antspyx"]
    # The gadolinium detector: Colin27 is non-contrast, and so is the brightened "ce".
    assert 0.0 <= sidecar["GadoliniumProbability"] < 0.5
    assert sidecar["GadoliniumDetection"]["ContrastMismatch"] is False
    ce = f"sub-01/ses-M000/anat/sub-01_ses-M000_ce-gadolinium_{SPACE}_res-1x1x1"
    # The uncropped image is written at the full output level only.
    for root, desc in ((out, "_desc-Crop"), (run["levels"]["full"][0], "")):
        detection = json.loads((root / f"{ce}{desc}_T1w.json").read_text())
        assert detection["GadoliniumDetection"]["Label"] == "ce"
        assert detection["GadoliniumDetection"]["ContrastMismatch"] is True


def test_logs_hold_settings_and_citation(run):
    logs = run["out"] / "logs"
    (config_file,) = sorted(logs.glob("ce2nce_*_config.toml"))[:1]
    settings = tomllib.loads(config_file.read_text())["run"]
    assert settings["analysis_level"] == "participant" and settings["nprocs"] == 2
    citation = (logs / "CITATION.md").read_text()
    for expected in (
        "t1-linear",
        "N4ITK",
        "antsRegistrationSyNQuick",
        "10.1186/s12880-024-01242-3",
    ):
        assert expected in citation


def test_outputs_are_valid_bids_derivatives(run):
    assert validate_dataset(run["out"]) == []


def test_second_run_recomputes_nothing_and_restores_lost_outputs(run):
    assert len(run["stamps"]) == 3
    for path, stamp in run["stamps"].items():
        assert path.stat().st_mtime_ns == stamp, f"{path} was recomputed"
    anat = run["out"] / "sub-01" / "ses-M000" / "anat"
    assert (anat / f"sub-01_ses-M000_{SPACE}_res-1x1x1_desc-Crop_T1w.nii.gz").is_file()


def test_no_partial_files_left(run):
    assert not [path for path in run["out"].rglob(".*") if path.name != ".bidsignore"]


def test_a_failing_image_does_not_stop_the_others(tmp_path, colin27_2mm, colin27_tiny):
    """Graph level: a file that breaks inside the graph leaves a crash file; others finish."""
    bids = write_dataset(
        tmp_path / "bids",
        {
            "sub-01/anat/sub-01_T1w.nii.gz": colin27_2mm,
            "sub-02/anat/sub-02_T1w.nii.gz": colin27_tiny,
        },
    )
    images = collect_t1w_images(bids)
    # Corrupt sub-02 after discovery, as a disk or copy error would.
    images[1].path.write_bytes(colin27_tiny.read_bytes()[:300])
    config = RunConfig(bids, tmp_path / "out", "participant", work_dir=tmp_path / "work")
    workflow = init_ce2nce_wf(config, images, software_versions())
    progress = RunProgress(workflow, images)
    with pytest.raises(RuntimeError), contextlib.redirect_stderr(io.StringIO()) as stderr:
        workflow.run(plugin="Linear", plugin_args={"status_callback": progress})
    lines = stderr.getvalue().splitlines()
    # The broken image fails at its first stage and counts as done; the other one finishes.
    assert "ce2nce: sub-02_T1w: N4 failed" in lines
    assert progress.failed == {images[1]: "N4"} and progress.done == 2
    counts = [line for line in lines if " images done (" in line]
    assert [line[: len("ce2nce: 1/2")] for line in counts] == ["ce2nce: 1/2", "ce2nce: 2/2"]
    assert any(line.endswith(" images done (sub-02_T1w failed at N4)") for line in counts)
    assert any(line.startswith("ce2nce: sub-01_T1w: segmentation done in ") for line in lines)
    assert (
        tmp_path / "out/sub-01/anat" / f"sub-01_{SPACE}_res-1x1x1_desc-Crop_T1w.nii.gz"
    ).is_file()
    assert not (tmp_path / "out/sub-02").exists()
    crashes = list((tmp_path / "out" / "logs").glob("crash-*.txt"))
    assert len(crashes) == 1
    report = crashes[0].read_text()
    assert "sub-02_T1w.nii.gz: cannot be read as NIfTI" in report
    # The CLI's summary names the image from the crash report.
    from ce2nce_pipeline.workflows.base import images_in_crash_reports

    assert images_in_crash_reports(images, [report]) == [images[1]]
    # ... and its line names the crash file.
    with contextlib.redirect_stderr(io.StringIO()) as stderr:
        _report(config, 2, [images[1]], [], {crashes[0]: report})
    failed_line = stderr.getvalue().splitlines()[1]
    assert failed_line.startswith(f"ce2nce: failed: {images[1].path}: ")
    assert failed_line.endswith(f"; crash file(s): {crashes[0]}")


def test_every_citation_key_of_the_graph_has_a_reference():
    import re

    from ce2nce_pipeline.derivatives import REFERENCES
    from ce2nce_pipeline.workflows import brain_mask, segmentation, t1_linear, translate

    texts = [t1_linear.T1_LINEAR_DESC, translate.TRANSLATE_DESC]
    for module in (brain_mask, segmentation):
        texts += [value for value in vars(module).values() if isinstance(value, str)]
        texts += [
            text
            for value in vars(module).values()
            if isinstance(value, dict)
            for text in value.values()
            if isinstance(text, str)
        ]
    keys = set(re.findall(r"@([a-z0-9_]+)", " ".join(texts)))
    assert keys >= {"clinica", "n4", "ants", "fonov2011", "atropos", "isensee2019"}
    missing = {key for key in keys if f"[@{key}]:" not in REFERENCES}
    assert not missing


def test_atomic_outputs_follow_the_umask(tmp_path):
    import os

    from ce2nce_pipeline.io import atomic_copy, atomic_write_text

    previous = os.umask(0o022)
    try:
        atomic_write_text("x", tmp_path / "a.txt")
        atomic_copy(tmp_path / "a.txt", tmp_path / "b.txt")
    finally:
        os.umask(previous)
    for name in ("a.txt", "b.txt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644


def test_crash_reports_are_attributed_to_their_image(tmp_path):
    from pathlib import Path

    from ce2nce_pipeline.bids import T1wImage
    from ce2nce_pipeline.workflows.base import images_in_crash_reports

    def image(subject, name, **entities):
        return T1wImage(Path(f"/d/{name}"), name, {"subject": subject, **entities})

    nce = image("01", "sub-01_ses-M000_T1w.nii.gz", session="M000")
    ce = image("01", "sub-01_ses-M000_ce-gd_T1w.nii.gz", session="M000", ceagent="gd")
    other = image("02", "sub-02_ses-M000_T1w.nii.gz", session="M000")
    report = "Node: ce2nce_wf.sub_01_wf.segmentation_ses_M000_ce_gd_wf.segmentation\n"
    assert images_in_crash_reports([nce, ce, other], [report]) == [ce]
    report = "Node: ce2nce_wf.sub_02_wf.t1_linear_ses_M000_wf.n4_correction\n"
    assert images_in_crash_reports([nce, ce, other], [report]) == [other]
    assert images_in_crash_reports([nce, ce, other], []) == []
