"""Imported by the fork server only, before it forks any worker: see :mod:`.workers`.

Importing this module in any other process would move that process into a process group of its
own; nothing but :func:`ce2nce_pipeline.workers.prepare_forkserver` names it.
"""

from .workers import guard_forkserver

guard_forkserver()
