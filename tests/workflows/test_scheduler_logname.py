"""nipype's SLURM plugin names jobs after $LOGNAME: a run without it must not stop on a KeyError.

The cluster is stood in for by two small executables on ``PATH``: ``sbatch`` runs the job script
at once and answers as SLURM does, ``squeue`` lists no pending job. The graph, the plugin and
the job scripts are nipype's own.
"""

from __future__ import annotations

import getpass
import os
import stat
from pathlib import Path

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ce2nce_pipeline.config import RunConfig
from ce2nce_pipeline.workflows import run
from ce2nce_pipeline.workflows.scheduler import ensure_logname

SBATCH = """#!/bin/bash
# Record the job name, run the job script now, answer as sbatch does.
while [ $# -gt 1 ]; do
  if [ "$1" = "-J" ]; then echo "$2" >> "{jobs}"; fi
  shift
done
bash "$1" > /dev/null 2>&1
echo "Submitted batch job 42"
"""
SQUEUE = "#!/bin/bash\necho 'JOBID PARTITION NAME USER ST TIME NODES NODELIST(REASON)'\n"


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _double(value: int) -> int:
    return 2 * value


def test_slurm_run_without_logname_names_its_jobs_after_the_user(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    jobs = tmp_path / "jobs.txt"
    _executable(bin_dir / "sbatch", SBATCH.format(jobs=jobs))
    _executable(bin_dir / "squeue", SQUEUE)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("LOGNAME", raising=False)

    workflow = pe.Workflow(name="slurm_wf", base_dir=str(tmp_path / "work"))
    double = pe.Node(
        niu.Function(function=_double, input_names=["value"], output_names=["out"]),
        name="double",
    )
    double.inputs.value = 21
    workflow.add_nodes([double])
    config = RunConfig(
        tmp_path / "bids",
        tmp_path / "out",
        "participant",
        work_dir=tmp_path / "work",
        plugin="SLURM",
        plugin_args={"poll_sleep_duration": 0.2},
    )

    assert run._run_graph(workflow, config, images=[])  # no KeyError: 'LOGNAME'
    assert os.environ["LOGNAME"] == getpass.getuser()
    (job_name,) = jobs.read_text().split()
    assert job_name.endswith(f".{getpass.getuser()}")
    result = next((tmp_path / "work" / "slurm_wf" / "double").glob("result_double.pklz"))
    assert result.is_file()


def test_logname_is_left_alone_when_set_or_not_needed(monkeypatch):
    monkeypatch.setenv("LOGNAME", "warehouse")
    assert ensure_logname("SLURM") is None and os.environ["LOGNAME"] == "warehouse"
    monkeypatch.delenv("LOGNAME")
    assert ensure_logname("MultiProc") is None and "LOGNAME" not in os.environ
    assert ensure_logname("SGE") == getpass.getuser() == os.environ["LOGNAME"]
