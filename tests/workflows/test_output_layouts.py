"""One participant graph for both output layouts: a BIDS derivatives dataset and a CAPS."""

from __future__ import annotations

from ce2nce_pipeline.clinica.graph import caps_layout
from ce2nce_pipeline.interfaces.bids_sink import DerivativesDataSink
from ce2nce_pipeline.workflows.base import SubjectSettings, init_single_subject_wf
from ce2nce_pipeline.workflows.outputs import OutputLayout

from ..conftest import fake_translation_model, session_images


def _graph(tmp_path, layout, reused_crops=None):
    settings = SubjectSettings(
        layout=layout,
        software_versions={},
        translation=fake_translation_model(tmp_path),
        mask_backend="template",
        output_level="full",
    )
    return init_single_subject_wf(
        subject="01", images=session_images(tmp_path), settings=settings, reused_crops=reused_crops
    )


def _sinks(workflow) -> dict[str, DerivativesDataSink]:
    nodes = {name: workflow.get_node(name) for name in workflow.list_node_names()}
    return {
        name: node.interface
        for name, node in nodes.items()
        if isinstance(node.interface, DerivativesDataSink)
    }


def _subworkflows(workflow) -> set[str]:
    return {name.split(".")[0] for name in workflow.list_node_names()}


def test_both_layouts_write_the_same_derivatives_in_their_folders(tmp_path):
    bids = _sinks(_graph(tmp_path, OutputLayout(output_dir=str(tmp_path / "out"))))
    caps = _sinks(_graph(tmp_path, caps_layout(tmp_path / "caps")))
    assert set(bids) == set(caps)
    for name, sink in caps.items():
        t1_linear = name.startswith("ds_t1_linear")
        assert sink.inputs.base_directory == str(tmp_path / "caps" / "subjects")
        assert sink.inputs.datatype == ("t1_linear" if t1_linear else "ce2nce")
        assert bids[name].inputs.datatype == "anat"
        clinica_order = t1_linear or name.endswith("ds_t1w_synthetic")
        assert sink.inputs.clinica_order is clinica_order
        assert bids[name].inputs.clinica_order is False


def test_a_caps_registers_a_pair_together_and_records_no_gadolinium(tmp_path):
    bids = _graph(tmp_path, OutputLayout(output_dir=str(tmp_path / "out")))
    caps = _graph(tmp_path, caps_layout(tmp_path / "caps"))
    gadolinium = {name for name in _subworkflows(bids) if name.startswith("gadolinium_")}
    assert gadolinium and not gadolinium & _subworkflows(caps)
    assert _subworkflows(caps) == _subworkflows(bids) - gadolinium
    ce_registration = "t1_linear_ses_M000_ce_gadolinium_wf.registration"
    assert type(bids.get_node(ce_registration).interface).__name__ == "PairRegistration"
    # Clinica's own t1-linear registers each image alone; here the pair stays in register.
    assert type(caps.get_node(ce_registration).interface).__name__ == "PairRegistration"


def test_a_crop_already_in_the_caps_replaces_t1_linear(tmp_path):
    images = session_images(tmp_path)
    crop = tmp_path / "crop.nii.gz"
    caps = _graph(tmp_path, caps_layout(tmp_path / "caps"), {images[0].path: crop})
    names = _subworkflows(caps)
    assert "t1_linear_ses_M000_wf" not in names and "ds_t1_linear_ses_M000_wf" not in names
    assert caps.get_node("reused_crop_ses_M000").inputs.t1w_crop == str(crop)
    assert "t1_linear_ses_M000_ce_gadolinium_wf" in names
