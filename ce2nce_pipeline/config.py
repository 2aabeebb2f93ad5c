"""The settings of one run, as one typed object written to TOML with every run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PLUGINS = ("MultiProc", "Linear", "SLURM", "SLURMGraph", "SGE")


@dataclass
class RunConfig:
    """Everything a run depends on; built by the CLI, read only by the top-level workflow."""

    bids_dir: Path
    output_dir: Path
    analysis_level: str
    participant_labels: list[str] = field(default_factory=list)
    session_labels: list[str] = field(default_factory=list)
    work_dir: Path | None = None
    nprocs: int = 1
    omp_nthreads: int = 1
    plugin: str = "MultiProc"
    plugin_args: dict[str, Any] = field(default_factory=dict)
    model: Path | None = None
    device: str = "auto"
    #: None: the checkpoint's recorded choice.
    output_resampling: str | None = None
    mask_backend: str = "hdbet"
    seg_backend: str = "ants"
    group_by: str | None = None
    skip_bids_validation: bool = False
    stop_on_first_crash: bool = False
    verbosity: int = 0
    run_uuid: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y%m%d-%H%M%S"))

    def to_dict(self) -> dict[str, Any]:
        """Plain, TOML-serialisable values (paths as strings, ``None`` left out)."""
        return {
            key: (str(value) if isinstance(value, Path) else value)
            for key, value in asdict(self).items()
            if value is not None
        }

    def to_toml(self) -> str:
        """The settings as TOML text, under a ``[run]`` table."""
        import tomli_w

        settings = self.to_dict()
        # TOML has no null and nested tables must stay JSON-compatible: keep plugin args as text.
        settings["plugin_args"] = json.dumps(settings["plugin_args"])
        return tomli_w.dumps({"run": settings})

    def plugin_settings(self) -> dict[str, Any]:
        """Arguments of nipype's ``Workflow.run``."""
        args = dict(self.plugin_args)
        if self.plugin == "MultiProc":
            args.setdefault("n_procs", self.nprocs)
            args.setdefault("raise_insufficient", False)
            args.setdefault("maxtasksperchild", 1)
            # Workers must not be forked from a process whose torch/OpenMP thread pools already
            # run (the CLI loads the checkpoint): a forked pool deadlocks.
            args.setdefault("mp_context", "forkserver")
        return {"plugin": self.plugin, "plugin_args": args}
