"""``--registration``: from the command line to every registration node, the run settings and
the methods text; a bad value is one line."""

from __future__ import annotations

import tomllib

import pytest

from ce2nce_pipeline.bids import T1wImage
from ce2nce_pipeline.cli.parser import parse_args
from ce2nce_pipeline.cli.run import main
from ce2nce_pipeline.workflows.base import collect_descriptions, init_ce2nce_wf

from ..conftest import write_dataset


@pytest.fixture
def dataset(tmp_path, colin27_tiny):
    return write_dataset(
        tmp_path / "bids", {"sub-01/ses-M000/anat/sub-01_ses-M000_T1w.nii.gz": colin27_tiny}
    )


def _images(bids) -> list[T1wImage]:
    path = "sub-01/ses-M000/anat/sub-01_ses-M000_T1w.nii.gz"
    ce = "sub-01/ses-M000/anat/sub-01_ses-M000_ce-gadolinium_T1w.nii.gz"
    return [
        T1wImage(bids / path, path, {"subject": "01", "session": "M000"}),
        T1wImage(bids / ce, ce, {"subject": "01", "session": "M000", "ceagent": "gadolinium"},
                 contrast_agent="gadolinium"),
    ]  # fmt: skip


def _schedules(workflow) -> dict[str, str | None]:
    """The ``schedule`` input of every registration node of the graph, by node path (``None``
    for a T1w-ce registered through its T1w-nce, which has no schedule of its own)."""
    found = {}
    for name in workflow.list_node_names():
        if name.endswith(".registration"):
            found[name] = getattr(workflow.get_node(name).inputs, "schedule", None)
    return found


@pytest.mark.parametrize(("option", "schedule"), [([], "fast"), (["--registration", "clinica"],
                                                                "clinica")])  # fmt: skip
def test_the_schedule_reaches_every_registration_node_and_the_records(
    dataset, tmp_path, option, schedule
):
    argv = [str(dataset), str(tmp_path / "out"), "participant", "--no-translation", *option]
    config = parse_args(argv)
    assert config.registration == schedule
    assert tomllib.loads(config.to_toml())["run"]["registration"] == schedule
    workflow = init_ce2nce_wf(config, _images(dataset), {"ce2nce": "test"})
    schedules = _schedules(workflow)
    assert len(schedules) == 2  # the nce and the ce image
    # The nce runs the schedule; the ce of its session is registered through it.
    assert sorted(schedules.values(), key=str) == sorted([schedule, None], key=str)
    ce_node = next(name for name, value in schedules.items() if value is None)
    assert "ce_gadolinium" in ce_node
    methods = " ".join(collect_descriptions(workflow))
    exact = "as `antsRegistrationSyNQuick.sh -t a`"
    assert (exact in methods) == (schedule == "clinica")


def test_an_unknown_schedule_is_one_line(dataset, tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main([str(dataset), str(tmp_path / "out"), "participant", "--registration", "slow"])
    assert raised.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("ce2nce: error: argument --registration: invalid choice: 'slow'")
    assert "fast" in err and "clinica" in err
    assert not (tmp_path / "out").exists()


def test_a_ce_image_is_registered_through_the_nce_of_its_session(dataset):
    """The pair's T1w-ce gets the T1w-nce's bias-corrected image and template affine."""
    config = parse_args([str(dataset), str(dataset.parent / "out"), "participant",
                         "--no-translation"])  # fmt: skip
    workflow = init_ce2nce_wf(config, _images(dataset), {"ce2nce": "test"})
    subject = workflow.get_node("sub_01_wf")
    nce_wf = subject.get_node("t1_linear_ses_M000_wf")
    ce_wf = subject.get_node("t1_linear_ses_M000_ce_gadolinium_wf")
    edges = subject._graph.get_edge_data(nce_wf, ce_wf)
    assert edges is not None, "the ce's t1-linear does not read the nce's"
    assert sorted(edges["connect"]) == [
        ("outputnode.affine", "inputnode.pair_affine"),
        ("outputnode.t1w_n4", "inputnode.pair_n4"),
    ]
    assert type(ce_wf.get_node("registration").interface).__name__ == "PairRegistration"
    assert "aligned rigidly" in " ".join(collect_descriptions(workflow))
