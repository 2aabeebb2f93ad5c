"""A full disk (ENOSPC) while writing an output: one line, no half file, the image fails."""

from __future__ import annotations

import errno
import shutil

import pytest
from nipype.pipeline import engine as pe

from ce2nce_pipeline import io as ce2nce_io
from ce2nce_pipeline.errors import DiskFullError
from ce2nce_pipeline.interfaces.bids_sink import DerivativesDataSink
from ce2nce_pipeline.io import atomic_copy
from ce2nce_pipeline.workers import remove_stale_temporary_files, temporary_prefix
from ce2nce_pipeline.workflows.run import _failure_reason

_COPYFILE = shutil.copyfile


def _copy_half_then_fill_the_disk(source, destination, *args, **kwargs):
    """``shutil.copyfile`` on a disk that fills up while an output's temporary file is written."""
    if not str(destination).rpartition("/")[2].startswith("."):
        return _COPYFILE(source, destination, *args, **kwargs)
    with open(destination, "wb") as stream:
        stream.write(open(source, "rb").read()[:100])
    raise OSError(errno.ENOSPC, "No space left on device", str(destination))


def test_atomic_copy_on_a_full_disk(tmp_path, colin27_tiny, monkeypatch):
    monkeypatch.setattr(ce2nce_io.shutil, "copyfile", _copy_half_then_fill_the_disk)
    target = tmp_path / "out" / "sub-01_T1w.nii.gz"
    with pytest.raises(DiskFullError) as raised:
        atomic_copy(colin27_tiny, target)
    assert str(raised.value) == (
        f"no space left on device writing {target}: free space or choose another output folder"
    )
    assert list(target.parent.iterdir()) == []  # neither the target nor a half file


@pytest.mark.slow
def test_a_sink_node_on_a_full_disk_fails_in_one_line(tmp_path, colin27_tiny, monkeypatch):
    """A real nipype graph: the node fails, its crash file gives the summary its line."""
    monkeypatch.setattr(ce2nce_io.shutil, "copyfile", _copy_half_then_fill_the_disk)
    out = tmp_path / "out"
    workflow = pe.Workflow("sub_01_wf", base_dir=str(tmp_path / "work"))
    workflow.config["execution"].update(
        {"crashdump_dir": str(out / "logs"), "crashfile_format": "txt"}
    )
    sink = pe.Node(
        DerivativesDataSink(
            base_directory=str(out),
            source_entities={"subject": "01"},
            in_file=str(colin27_tiny),
            suffix="T1w",
            desc="Crop",
        ),
        name="ds_crop",
    )
    workflow.add_nodes([sink])
    with pytest.raises(RuntimeError):
        workflow.run(plugin="Linear")
    (report,) = [path.read_text() for path in (out / "logs").glob("crash-*.txt")]
    target = out / "sub-01/anat/sub-01_desc-Crop_T1w.nii.gz"
    assert _failure_reason(report) == (
        f"no space left on device writing {target}: free space or choose another output folder"
    )
    assert list(target.parent.iterdir()) == []


def test_a_full_work_folder_is_named_in_one_line():
    report = "Traceback ...\nOSError: [Errno 28] No space left on device: '/w/node/result.pklz'\n"
    assert _failure_reason(report) == (
        "no space left on device writing /w/node/result.pklz: free space or choose another "
        "--work-dir"
    )


def test_temporary_files_of_dead_writers_are_removed(tmp_path, colin27_tiny):
    target = tmp_path / "sub-01" / "anat" / "sub-01_T1w.nii.gz"
    target.parent.mkdir(parents=True)
    live = target.parent / (temporary_prefix(target) + "abcd1234")
    host = temporary_prefix(target).split(".")[-2].rpartition("-")[0]
    dead = target.parent / f".{target.name}.{host}-999999999.abcd1234"
    other_host = target.parent / f".{target.name}.elsewhere-999999999.abcd1234"
    for path in (live, dead, other_host):
        shutil.copyfile(colin27_tiny, path)
    assert remove_stale_temporary_files(tmp_path) == [dead]
    assert live.is_file() and other_host.is_file() and not dead.exists()
