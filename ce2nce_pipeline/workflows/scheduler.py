"""Each node's resource hints as job arguments for nipype's SLURM and SGE plugins.

MultiProc reads a node's ``mem_gb`` and ``n_procs`` itself. The SLURM and SGE plugins submit
each node as its own job and read only the node's ``plugin_args`` (``sbatch_args``,
``qsub_args``): without them every job would get the cluster's default memory and one core.
SLURMGraph and SGEGraph submit the whole graph at once with the run's arguments only.
"""

from __future__ import annotations

import getpass
import math
import os

from nipype.interfaces.utility import IdentityInterface
from nipype.pipeline import engine as pe

__all__ = ["apply_scheduler_hints", "ensure_logname", "job_arguments"]

#: Plugins that name each job after ``$LOGNAME`` (nipype reads it with ``os.environ[...]``).
_LOGNAME_PLUGINS = ("SLURM", "SGE")


def ensure_logname(plugin: str) -> str | None:
    """Set ``LOGNAME`` from the user's account when a plugin needs it and it is unset.

    nipype's SLURM and SGE plugins name each job ``<node>.<hierarchy>.$LOGNAME`` and stop with
    a ``KeyError`` where ``LOGNAME`` is unset: in containers, cron jobs and CI runners. The
    value set is the name of the process's user (``getpass.getuser``: ``USER``, ``LNAME``,
    ``USERNAME``, then the uid's passwd entry), or ``uid<N>`` for a uid without an entry.

    Returns
    -------
    str or None
        The value set, or ``None`` when nothing was set.
    """
    if plugin not in _LOGNAME_PLUGINS or os.environ.get("LOGNAME"):
        return None
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a uid with no passwd entry (a container's --user 1234)
        user = f"uid{os.getuid()}"
    os.environ["LOGNAME"] = user
    return user


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
