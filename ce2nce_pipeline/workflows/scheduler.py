"""Each node's resource hints as job arguments for nipype's SLURM and SGE plugins.

MultiProc reads a node's ``mem_gb`` and ``n_procs`` itself. The SLURM and SGE plugins submit
each node as its own job and read only the node's ``plugin_args`` (``sbatch_args``,
``qsub_args``): without them every job would get the cluster's default memory and one core.
SLURMGraph and SGEGraph submit the whole graph at once with the run's arguments only.
"""

from __future__ import annotations

import math

from nipype.interfaces.utility import IdentityInterface
from nipype.pipeline import engine as pe

__all__ = ["apply_scheduler_hints", "job_arguments"]


def job_arguments(plugin: str, mem_gb: float, n_procs: int) -> dict[str, str]:
    """The per-job arguments a plugin takes for a node of ``mem_gb`` and ``n_procs``.

    SGE's parallel environments are named by each site, so only the memory is given there
    (``h_vmem``); a site adds its ``-pe`` through ``--plugin-args '{"qsub_args": ...}'``.
    """
    megabytes = math.ceil(mem_gb * 1024)
    if plugin == "SLURM":
        return {"sbatch_args": f"--mem={megabytes}M --cpus-per-task={n_procs}"}
    if plugin == "SGE":
        return {"qsub_args": f"-l h_vmem={megabytes}M"}
    return {}


def apply_scheduler_hints(workflow: pe.Workflow, plugin: str) -> int:
    """Give every node that runs as its own job the arguments of its hints; return how many.

    Arguments a node already has are kept, the hints' come first (a later ``--mem`` wins in
    ``sbatch``).
    """
    count = 0
    for name in workflow.list_node_names():
        node = workflow.get_node(name)
        # Sinks run in the main process; identity nodes are removed before the run.
        if node.run_without_submitting or isinstance(node.interface, IdentityInterface):
            continue
        arguments = job_arguments(plugin, node.mem_gb, node.n_procs)
        for key, value in arguments.items():
            given = node.plugin_args.get(key)
            node.plugin_args = {**node.plugin_args, key: f"{value} {given}" if given else value}
        count += bool(arguments)
    return count
