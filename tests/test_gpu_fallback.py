"""``--device cuda`` on a machine without a usable GPU: the run goes on, on the CPU, and says so.

These tests force the fallback for real where torch sees no GPU (a CPU build, or no device
given to the container); where it sees one they check that the GPU is chosen instead.
"""

from __future__ import annotations

import json

import pytest
import torch

from ce2nce_pipeline.config import RunConfig
from ce2nce_pipeline.errors import InvalidInputError
from ce2nce_pipeline.interfaces.bids_sink import DerivativesDataSink
from ce2nce_pipeline.science.devices import cuda_unavailable_reason, resolve_device_or_cpu
from ce2nce_pipeline.workflows.prepare import resolve_environment

HAS_GPU = torch.cuda.is_available()


def _config(tmp_path, device: str) -> RunConfig:
    return RunConfig(
        bids_dir=tmp_path / "bids",
        output_dir=tmp_path / "out",
        analysis_level="participant",
        device=device,
        mask_backend="template",
    )


@pytest.mark.skipif(HAS_GPU, reason="a GPU is present: no fallback to force")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_asked_without_a_gpu_falls_back_to_the_cpu_with_one_warning(tmp_path, capsys, device):
    resolved, reason = resolve_device_or_cpu(device)
    assert resolved == torch.device("cpu") and reason == cuda_unavailable_reason()
    if torch.version.cuda is None:
        assert "CPU-only build" in reason
    environment = resolve_environment(_config(tmp_path, device))
    assert environment.device == "cpu"
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"ce2nce: warning: --device {device}: no GPU (")
    assert line.endswith("the translation and the brain masks run on the CPU")


@pytest.mark.parametrize("device", ["auto", "cpu"])
def test_auto_and_cpu_choose_without_a_warning(tmp_path, capsys, device):
    environment = resolve_environment(_config(tmp_path, device))
    expected = "cuda" if HAS_GPU and device == "auto" else "cpu"
    assert environment.device == expected
    assert capsys.readouterr().err == ""


@pytest.mark.skipif(not HAS_GPU, reason="needs a GPU")
def test_cuda_asked_with_a_gpu_runs_there(tmp_path, capsys):
    assert resolve_environment(_config(tmp_path, "cuda")).device == "cuda"
    with pytest.raises(InvalidInputError, match="GPU"):
        resolve_environment(_config(tmp_path, f"cuda:{torch.cuda.device_count()}"))


def test_the_sink_records_the_device_a_network_ran_on(tmp_path):
    source = tmp_path / "synthetic.nii.gz"
    source.write_bytes(b"not read: copied as it is")
    common = {
        "base_directory": str(tmp_path / "out"),
        "source_entities": {"subject": "01", "ceagent": "gadolinium"},
        "in_file": str(source),
        "suffix": "T1w",
        "metadata": {"Description": "synthetic"},
    }
    ran = DerivativesDataSink(desc="synthetic", compute_device="cpu", **common).run()
    assert json.loads(open(ran.outputs.out_meta).read()) == {
        "Description": "synthetic", "ComputeDevice": "cpu"
    }  # fmt: skip
    # The template mask runs no network: its device is empty and no field is written.
    ran = DerivativesDataSink(desc="other", compute_device="", **common).run()
    assert json.loads(open(ran.outputs.out_meta).read()) == {"Description": "synthetic"}
