"""Which node of the participant graph belongs to which image, for the progress lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from ce2nce_pipeline.bids import T1wImage
from ce2nce_pipeline.config import RunConfig
from ce2nce_pipeline.models.default import default_model_path
from ce2nce_pipeline.workflows.base import init_ce2nce_wf
from ce2nce_pipeline.workflows.prepare import PreparedRun, RunEnvironment
from ce2nce_pipeline.workflows.progress import STAGES, RunProgress, _branch_nodes, duration

from ..conftest import fake_translation_model

IMAGES = [
    T1wImage(Path(f"/bids/{relative}"), relative, entities, agent)
    for relative, entities, agent in (
        ("sub-01/anat/sub-01_run-1_T1w.nii.gz", {"subject": "01", "run": "1"}, None),
        # Its branch names (..._ce_gd_run_1_wf) end as the other image's (..._run_1_wf).
        (
            "sub-01/anat/sub-01_ce-gd_run-1_T1w.nii.gz",
            {"subject": "01", "ceagent": "gd", "run": "1"},
            "gd",
        ),
        (
            "sub-02/ses-M000/anat/sub-02_ses-M000_ce-gd_T1w.nii.gz",
            {"subject": "02", "session": "M000", "ceagent": "gd"},
            "gd",
        ),
    )
]


@pytest.fixture(scope="module")
def workflow():
    config = RunConfig(Path("/bids"), Path("/out"), "participant", mask_backend="template")
    model = fake_translation_model(default_model_path())
    return init_ce2nce_wf(config, IMAGES, {}, PreparedRun(model, RunEnvironment()))


def test_every_node_that_runs_belongs_to_its_image(workflow):
    nodes = _branch_nodes(workflow, IMAGES)
    running = [
        name
        for name in workflow.list_node_names()
        if type(workflow.get_node(name).interface).__name__ != "IdentityInterface"
    ]
    assert sorted(nodes) == sorted(running)
    stages = {image: set() for image in IMAGES}
    for image, prefix, node in nodes.values():
        if (prefix, node) in STAGES:
            stages[image].add(STAGES[prefix, node])
    own = {"N4", "registration", "brain mask", "segmentation"}
    synthetic = {"translation", "brain mask of the synthetic T1w-nce"}
    synthetic |= {"segmentation of the synthetic T1w-nce"}
    assert stages == {IMAGES[0]: own, IMAGES[1]: own | synthetic, IMAGES[2]: own | synthetic}
    # The union of the session's two masks is written once the ce image's branch has run.
    union = [name for name, (image, prefix, _) in nodes.items() if prefix == "union_mask"]
    assert union == ["sub_01_wf.union_mask_ce_gd_run_1_wf.union_mask"]
    assert nodes[union[0]][0] == IMAGES[1]


def test_a_new_run_has_nothing_done(workflow):
    progress = RunProgress(workflow, IMAGES)
    assert (progress.done, progress.total, progress.failed) == (0, 3, {})


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.04, "0.0 s"), (4.25, "4.2 s"), (9.96, "10 s"), (41.4, "41 s"), (59.6, "1 min 00 s"),
     (365, "6 min 05 s"), (7380, "2 h 03 min")],
)  # fmt: skip
def test_durations_read_as_a_person_reads_them(seconds, text):
    assert duration(seconds) == text
