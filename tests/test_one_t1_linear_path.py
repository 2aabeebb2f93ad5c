"""The real-pair training set and the participant graph run the same t1-linear functions."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nipype.pipeline import engine as pe

import ce2nce_pipeline.science.t1_linear as t1_linear_module
from ce2nce_pipeline.science.t1_linear import ras_points_through_transform
from ce2nce_pipeline.training.real_pairs import find_real_pairs, prepare_real_pairs, split_of
from ce2nce_pipeline.workflows.t1_linear import init_t1_linear_wf

from .conftest import write_dataset


def _count_calls(monkeypatch) -> dict[str, int]:
    """Wrap the t1-linear steps of the science module and count their calls."""
    calls = {
        "n4_bias_correction": 0,
        "register_to_template": 0,
        "align_to_pair_reference": 0,
        "crop_to_clinica_box": 0,
    }
    for name in calls:
        original = getattr(t1_linear_module, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(t1_linear_module, name, counted)
    return calls


@pytest.mark.slow
def test_training_pairs_and_graph_share_t1_linear(colin27_2mm, tmp_path, monkeypatch):
    bids = write_dataset(
        tmp_path / "bids",
        {
            "sub-01/ses-M000/anat/sub-01_ses-M000_T1w.nii.gz": colin27_2mm,
            "sub-01/ses-M000/anat/sub-01_ses-M000_ce-gadolinium_T1w.nii.gz": colin27_2mm,
        },
    )
    calls = _count_calls(monkeypatch)
    tsv = prepare_real_pairs(bids, tmp_path / "pairs", {"test": ["sub-01"]}, processes=1)
    # Both images of the pair went through N4 and the crop; the T1w-nce was registered to the
    # template and the T1w-ce through it, as the participant graph does.
    assert calls == {
        "n4_bias_correction": 2,
        "register_to_template": 1,
        "align_to_pair_reference": 1,
        "crop_to_clinica_box": 2,
    }
    rows = tsv.read_text().splitlines()
    assert rows[0].split("\t") == ["pair_id", "participant_id", "session_id", "ce", "nce", "split"]
    assert rows[1].split("\t")[-1] == "test"
    training_crop = nib.load(tmp_path / "pairs" / "sub-01_ses-M000" / "nce_t1_linear.nii.gz")

    workflow = init_t1_linear_wf(name="t1_linear_wf")
    workflow.base_dir = str(tmp_path / "work")
    workflow.inputs.inputnode.t1w = str(colin27_2mm)
    result = workflow.run(plugin="Linear")
    nodes = {node.name: node for node in result.nodes()}
    graph_crop = nib.load(nodes["crop"].result.outputs.out_file)
    # The graph's nodes called the same functions (nipype runs them in this process)...
    assert calls["n4_bias_correction"] == 3 and calls["register_to_template"] == 2
    assert calls["crop_to_clinica_box"] == 3
    # ... and produced the same image. ANTs' multi-threaded metric sampling differs from run
    # to run by a few hundredths of a millimetre (0.07 mm measured between two runs of the same
    # call), so the transforms are compared, then the images.
    points = np.array([[x, y, z] for x in (-60, 0, 60) for y in (-90, 0, 50) for z in (-40, 60)])
    training_points = ras_points_through_transform(
        tmp_path / "pairs" / "sub-01_ses-M000" / "work_nce" / "affine.mat", points
    )
    graph_points = ras_points_through_transform(
        nodes["registration"].result.outputs.out_matrix, points
    )
    assert np.linalg.norm(training_points - graph_points, axis=1).max() < 0.3
    assert graph_crop.shape == training_crop.shape == (169, 208, 179)
    a, b = np.asarray(graph_crop.dataobj), np.asarray(training_crop.dataobj)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.995
    assert isinstance(workflow, pe.Workflow)


def test_real_pairs_are_found_and_split_by_subject(colin27_tiny, tmp_path):
    bids = write_dataset(
        tmp_path / "bids",
        {
            f"sub-{s}/ses-M000/anat/sub-{s}_ses-M000{ce}_T1w.nii.gz": colin27_tiny
            for s in ("01", "02", "03")
            for ce in ("", "_ce-gadolinium")
        },
    )
    pairs = find_real_pairs(bids)
    assert [p.pair_id for p in pairs] == [f"sub-0{i}_ses-M000" for i in (1, 2, 3)]
    assert all("_ce-gadolinium_" in p.ce.name and "_ce-" not in p.nce.name for p in pairs)
    splits = {"validation": ["sub-02"], "test": ["sub-03"]}
    assert [split_of(p.participant_id, splits) for p in pairs] == ["train", "validation", "test"]


def test_a_subject_in_two_splits_is_refused():
    import pytest

    from ce2nce_pipeline.errors import Ce2nceError

    with pytest.raises(Ce2nceError, match="sub-01 is listed in several splits"):
        split_of("sub-01", {"validation": ["sub-01"], "test": ["sub-01"]})


@pytest.mark.slow
def test_a_bad_image_is_skipped_and_named(colin27_tiny, tmp_path, caplog):
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not a nifti")
    bids = write_dataset(
        tmp_path / "bids",
        {
            "sub-01/ses-M000/anat/sub-01_ses-M000_T1w.nii.gz": broken,
            "sub-01/ses-M000/anat/sub-01_ses-M000_ce-gadolinium_T1w.nii.gz": colin27_tiny,
        },
    )
    from ce2nce_pipeline.errors import Ce2nceError

    try:
        prepare_real_pairs(bids, tmp_path / "pairs", {}, processes=1)
    except Ce2nceError as error:  # no pair left
        assert "no pair" in str(error)
    assert any("sub-01_ses-M000_T1w.nii.gz: skipped" in r.getMessage() for r in caplog.records)
    assert not Path(tmp_path / "pairs" / "pairs.tsv").exists()
