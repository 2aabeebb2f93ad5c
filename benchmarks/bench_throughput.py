"""Throughput of the participant level: per-stage wall and core-seconds, peak memory, images/hour.

Simulates a small BIDS dataset of ce/nce pairs (``ce2nce simulate``, Colin27 heads, two series
per pair), runs ``ce2nce … participant`` on it as a child process at each ``--nprocs`` and
watches every process of the run through ``/proc`` (Linux): nipype's MultiProc reuses its worker
processes from node to node (its pool does not honour ``maxtasksperchild``), and a worker works
in its node's folder while it runs it, so CPU time and peak memory are charged to the node whose
folder the worker is in at each sample; a node's peak includes what the worker still holds from
the nodes it ran before. The whole run's core-seconds come from the
kernel's accounting of the child and everything it waited for. Prints a table per run and a
projection for a 16-core node, with and without a GPU (on a GPU, the translation and HD-BET no
longer cost CPU time).

    .venv/bin/python benchmarks/bench_throughput.py [--pairs 2] [--nprocs 1 2] [--keep DIR]
                                                    [--device auto|cpu|cuda] [--omp-nthreads 1]

On a GPU machine (``--device cuda``), HD-BET and the translation run on the card and the
images/hour line is the measured throughput of the whole participant level there
(benchmarks/gpu_benchmarks.sh runs it with the network benchmark).

Numbers are documented in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
#: Stages whose CPU time moves to the GPU when there is one.
GPU_STAGES = ("translate", "brain_mask")
#: Clinica's stated cost per image (t1-linear about 6 min, SPM segmentation about 10 min).
ANCHOR_MINUTES_PER_IMAGE = 16.0


@dataclass
class ProcessRecord:
    """What was last seen of one process of the run."""

    cpu_seconds: float = 0.0
    node_dir: str = ""


@dataclass
class StageRecord:
    """CPU time and largest resident memory seen while a process worked in a node's folder."""

    cpu_seconds: float = 0.0
    peak_mib: float = 0.0


@dataclass
class RunRecord:
    wall: float
    core_seconds: float
    peak_mib: float
    nodes: dict[str, StageRecord] = field(default_factory=dict)


def _children_of(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rpartition(")")[2].split()[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _sample(
    pid: int, process: ProcessRecord, nodes: dict[str, StageRecord], work_dir: str
) -> float:
    """Charge the CPU time used since the last look to the node the process works in.

    nipype's workers live for the whole run and take node after node; each works in its node's
    folder, so the folder it is in when sampled names the node that used the time. When a
    process moves to another node its peak resident memory is reset (``clear_refs``), so the
    peak seen during a node is that node's. Returns the process's peak resident memory (MiB).
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICKS
        cwd = os.readlink(f"/proc/{pid}/cwd")
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, IndexError, ValueError):
        return 0.0  # the process ended between the listing and the reads
    peak = next(
        (int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")),
        0.0,
    )
    node = cwd[len(work_dir) :].strip("/") if cwd.startswith(work_dir) else ""
    charged = process.node_dir or node or "(main process, outside nodes)"
    stage = nodes.setdefault(charged, StageRecord())
    stage.cpu_seconds += cpu - process.cpu_seconds
    stage.peak_mib = max(stage.peak_mib, peak)
    if node != process.node_dir:
        _reset_peak_memory(pid)
    process.cpu_seconds, process.node_dir = cpu, node
    return peak


def _reset_peak_memory(pid: int) -> None:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass  # not permitted here: peaks then include the process's earlier nodes


def run_participant(
    bids: Path, out: Path, work: Path, nprocs: int, device: str = "auto", omp_nthreads: int = 1
) -> RunRecord:
    command = [
        sys.executable, "-m", "ce2nce_pipeline.cli.run", str(bids), str(out), "participant",
        "--nprocs", str(nprocs), "--omp-nthreads", str(omp_nthreads), "-w", str(work),
        "--skip-bids-validation", "--device", device,
    ]  # fmt: skip
    # Orphaned descendants (nipype's forkserver outlives its parent's wait) are re-parented to
    # this process, which reaps them: the kernel's child accounting then holds every worker.
    _become_subreaper()
    before = _children_core_seconds()
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    processes: dict[int, ProcessRecord] = defaultdict(ProcessRecord)
    nodes: dict[str, StageRecord] = {}
    peak = 0.0
    work_dir = str(work.resolve())
    while child.poll() is None:
        for pid in _children_of(os.getpid()):
            peak = max(peak, _sample(pid, processes[pid], nodes, work_dir))
        time.sleep(0.2)
    wall = time.perf_counter() - started
    _reap_all()
    if child.returncode:
        raise RuntimeError(f"participant run failed: {child.stderr.read()[-2000:].decode()}")
    return RunRecord(
        wall=wall,
        core_seconds=_children_core_seconds() - before,
        peak_mib=peak,
        nodes=nodes,
    )


def _become_subreaper() -> None:
    import ctypes

    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reap_all() -> None:
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _children_core_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stage_of(node_dir: str) -> str:
    """``ce2nce_wf/sub_01_wf/t1_linear_…_wf/n4_correction`` -> ``n4_correction``.

    Nodes of the synthetic image's branches are marked, sinks are grouped.
    """
    parts = node_dir.split("/")
    node = parts[-1]
    if node.startswith("ds_"):
        return "sinks (ds_*)"
    if any("synthetic" in part for part in parts[:-1]) and "synthetic" not in node:
        node = f"{node} (synthetic)"
    return node


def print_run(label: str, run: RunRecord, n_images: int) -> float:
    stages: dict[str, list[StageRecord]] = defaultdict(list)
    for node_dir, record in run.nodes.items():
        stages[stage_of(node_dir)].append(record)
    core = run.core_seconds
    print(
        f"\n{label}: {n_images} images, wall {run.wall:.0f} s, {core:.0f} core-s "
        f"({core / n_images:.1f} per image), largest process {run.peak_mib:.0f} MiB, "
        f"{3600 * n_images / run.wall:.1f} images/hour"
    )
    print(f"{'stage':40s} {'nodes':>5s} {'core-s':>8s} {'per image':>9s} {'peak MiB':>9s}")
    ordered = sorted(stages.items(), key=lambda kv: -sum(r.cpu_seconds for r in kv[1]))
    for name, records in ordered:
        total = sum(r.cpu_seconds for r in records)
        peak = max(r.peak_mib for r in records)
        print(f"{name:40s} {len(records):5d} {total:8.1f} {total / n_images:9.1f} {peak:9.0f}")
    return core


def _card() -> str:
    """The GPU torch sees, or why there is none."""
    import torch

    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return f"no GPU, torch {torch.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2, help="ce/nce pairs (default 2)")
    parser.add_argument("--nprocs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--keep", type=Path, help="keep the dataset and outputs in this folder")
    parser.add_argument("--device", default="auto", help="--device of ce2nce (default auto)")
    parser.add_argument("--omp-nthreads", type=int, default=1, help="threads per process")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ce2nce_bench_")) if args.keep is None else args.keep
    root.mkdir(parents=True, exist_ok=True)
    bids = root / "bids"
    if not bids.exists():
        subprocess.run(
            [sys.executable, "-m", "ce2nce_pipeline.cli.run", "simulate", str(bids),
             "--n-subjects", str(args.pairs), "--seed", "7", "--base", "colin27",
             "--ce-only-fraction", "0", "--low-quality-fraction", "0", "--separate-series"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    n_images = len(list(bids.glob("sub-*/ses-*/anat/*_T1w.nii.gz")))
    print(
        f"{n_images} T1w images ({args.pairs} ce/nce pairs), {os.cpu_count()} CPU(s), "
        f"--omp-nthreads {args.omp_nthreads}, --device {args.device} ({_card()}), default "
        "backends (HD-BET masks, ANTs segmentation)"
    )
    per_image = {}
    for nprocs in args.nprocs:
        out, work = root / f"out_{nprocs}", root / f"work_{nprocs}"
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        run = run_participant(bids, out, work, nprocs, args.device, args.omp_nthreads)
        core = print_run(f"--nprocs {nprocs}", run, n_images)
        gpu = sum(
            r.cpu_seconds
            for node_dir, r in run.nodes.items()
            if stage_of(node_dir).startswith(GPU_STAGES)
        )
        per_image[nprocs] = (core / n_images, (core - gpu) / n_images, run.peak_mib)
    print("\nProjection for a 16-core node (CPU-bound, one image per core, memory permitting):")
    for nprocs, (cpu_only, with_gpu, peak) in per_image.items():
        print(
            f"  from --nprocs {nprocs}: {16 * 3600 / cpu_only:,.0f} images/hour without a GPU, "
            f"{16 * 3600 / with_gpu:,.0f} with one; 16 processes need about "
            f"{16 * peak / 1024:.0f} GB"
        )
    print(
        f"  anchor (Clinica t1-linear + SPM, ~{ANCHOR_MINUTES_PER_IMAGE:.0f} min per image): "
        f"{16 * 60 / ANCHOR_MINUTES_PER_IMAGE:,.0f} images/hour"
    )
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
