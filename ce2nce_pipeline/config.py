"""The settings of one run, as one typed, frozen object written to TOML with every run.

Each setting's choices are a ``Literal`` type next to the science that owns them (the brain
mask backends in :mod:`.science.brain_mask`, ...); each setting's default is written once, on
:class:`RunConfig` (read it as ``RunConfig.mask_backend``): the command line, the Clinica
pipeline and the graphs take their defaults from there.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from .science.brain_mask import MaskBackend
from .science.gadolinium import ContrastFrom
from .science.grids import OutputResampling
from .science.segmentation import SegBackend
from .science.t1_linear import DEFAULT_REGISTRATION, Registration

AnalysisLevel = Literal["participant", "group"]
Plugin = Literal["MultiProc", "Linear", "SLURM", "SLURMGraph", "SGE"]
#: What a participant run writes of each image (docs/outputs.md#output-levels).
OutputLevel = Literal["minimal", "standard", "full"]

#: nipype plugins a run may use.
PLUGINS: tuple[str, ...] = get_args(Plugin)
#: Devices the command line accepts: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


def _check_choice(name: str, value: object, choices: object) -> None:
    allowed = get_args(choices)
    if value not in allowed:
        raise ValueError(f"{name} {value!r} is not one of {', '.join(allowed)}")


@dataclass(frozen=True)
class RunConfig:
    """Everything a run depends on; built by the CLI, read only by the top-level workflow.

    Frozen: a step that needs other settings makes a copy with :func:`dataclasses.replace`.

    Raises
    ------
    ValueError
        On a choice outside its ``Literal`` type, an unknown device or a count below 1.
    """

    bids_dir: Path
    output_dir: Path
    analysis_level: AnalysisLevel
    participant_labels: tuple[str, ...] = ()
    session_labels: tuple[str, ...] = ()
    #: The ``--bids-filter-file`` queries (``t1w``, ``t1w_ce``), checked; empty: every T1w.
    bids_filters: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The file the filters came from (named in messages; the TOML records the queries).
    bids_filter_file: Path | None = None
    #: None: a temporary folder, removed when the run ends (not recorded in the TOML).
    work_dir: Path | None = None
    nprocs: int = 1
    omp_nthreads: int = 1
    plugin: Plugin = "MultiProc"
    plugin_args: dict[str, Any] = field(default_factory=dict)
    model: Path | None = None
    #: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; ``auto`` is resolved once, before the graph
    #: is built (:func:`~.workflows.prepare.prepare_run`).
    device: str = "auto"
    #: None: the checkpoint's recorded choice.
    output_resampling: OutputResampling | None = None
    #: After the network, subtract what a grey-level opening finds of the enhancement in its
    #: output (docs/full_resolution_model.md#enhancement-opening).
    enhancement_opening: bool = True
    mask_backend: MaskBackend = "hdbet"
    seg_backend: SegBackend = "ants"
    #: t1-linear's affine registration schedule (docs/t1_linear.md).
    registration: Registration = DEFAULT_REGISTRATION
    #: ``labels``: the BIDS metadata; ``both``: also unlabelled images the gadolinium detector
    #: is confident about (docs/gadolinium_detector.md).
    contrast_from: ContrastFrom = "labels"
    #: Group level: keep images whose t1-linear registration is flagged in the statistics.
    include_flagged: bool = False
    #: ``minimal``: what the group level and the reports read, intensities as 16-bit integers;
    #: ``standard``: also the tissue probability maps, as 8-bit integers; ``full``: every image
    #: as computed (float32), the uncropped t1-linear image included.
    output_level: OutputLevel = "standard"
    group_by: str | None = None
    #: Group level: ratings files downloaded from the participant reports; the images rated
    #: bad are left out of the statistics (docs/group.md#qc-ratings).
    qc_ratings: tuple[Path, ...] = ()
    skip_bids_validation: bool = False
    stop_on_first_crash: bool = False
    #: -1: ``-q`` (no progress lines); 0: progress lines; 1: ``-v``; 2: ``-vv``.
    verbosity: int = 0
    #: Rebuild the reports from the outputs on disk; compute nothing.
    reports_only: bool = False
    run_uuid: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y%m%d-%H%M%S"))

    def __post_init__(self) -> None:
        object.__setattr__(self, "participant_labels", tuple(self.participant_labels))
        object.__setattr__(self, "session_labels", tuple(self.session_labels))
        object.__setattr__(self, "qc_ratings", tuple(Path(path) for path in self.qc_ratings))
        _check_choice("analysis level", self.analysis_level, AnalysisLevel)
        _check_choice("plugin", self.plugin, Plugin)
        _check_choice("mask backend", self.mask_backend, MaskBackend)
        _check_choice("segmentation backend", self.seg_backend, SegBackend)
        _check_choice("registration schedule", self.registration, Registration)
        _check_choice("contrast source", self.contrast_from, ContrastFrom)
        _check_choice("output level", self.output_level, OutputLevel)
        if self.output_resampling is not None:
            _check_choice("output resampling", self.output_resampling, OutputResampling)
        if not DEVICE_PATTERN.fullmatch(self.device):
            raise ValueError(f"device {self.device!r}: use auto, cpu, cuda or cuda:N")
        if self.nprocs < 1 or self.omp_nthreads < 1:
            raise ValueError("nprocs and omp_nthreads must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        """Plain, TOML-serialisable values (paths as text, tuples as lists, no ``None``)."""
        settings = {}
        for key, value in asdict(self).items():
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [str(item) if isinstance(item, Path) else item for item in value]
            if value is not None:
                settings[key] = value
        return settings

    def to_toml(self) -> str:
        """The settings as TOML text, under a ``[run]`` table.

        A run without ``work_dir`` ran in a temporary folder: none is recorded, so the file
        re-runs as given.
        """
        import tomli_w

        settings = self.to_dict()
        # TOML has no null and nested tables must stay JSON-compatible: keep plugin args as text.
        settings["plugin_args"] = json.dumps(settings["plugin_args"])
        # A filter's null (entity absent) has no TOML form.
        settings["bids_filters"] = json.dumps(settings["bids_filters"])
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
