"""The settings of one run, as one typed, frozen object written to TOML with every run."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

AnalysisLevel = Literal["participant", "group"]
Plugin = Literal["MultiProc", "Linear", "SLURM", "SLURMGraph", "SGE"]
MaskBackend = Literal["template", "deepbet", "hdbet"]
SegBackend = Literal["ants", "spm"]
OutputResampling = Literal["round-trip", "keep-detail"]
#: Affine registration schedules of t1-linear (``science.t1_linear.REGISTRATION_SCHEDULES``).
Registration = Literal["fast", "clinica"]
#: What decides which images are contrast-enhanced (``science.gadolinium.CONTRAST_SOURCES``).
ContrastFrom = Literal["labels", "both"]
#: What a participant run writes of each image (docs/outputs.md#output-levels).
OutputLevel = Literal["minimal", "standard", "full"]
DEFAULT_OUTPUT_LEVEL: OutputLevel = "standard"

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
    #: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    device: str = "auto"
    #: None: the checkpoint's recorded choice.
    output_resampling: OutputResampling | None = None
    mask_backend: MaskBackend = "hdbet"
    seg_backend: SegBackend = "ants"
    #: t1-linear's affine registration schedule (docs/t1_linear.md).
    registration: Registration = "fast"
    #: ``labels``: the BIDS metadata; ``both``: also unlabelled images the gadolinium detector
    #: is confident about (docs/gadolinium_detector.md).
    contrast_from: ContrastFrom = "labels"
    #: Group level: keep images whose t1-linear registration is flagged in the statistics.
    include_flagged: bool = False
    #: ``minimal``: what the group level and the reports read, intensities as 16-bit integers;
    #: ``standard``: also the tissue probability maps, as 8-bit integers; ``full``: every image
    #: as computed (float32), the uncropped t1-linear image included.
    output_level: OutputLevel = DEFAULT_OUTPUT_LEVEL
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


@dataclass(frozen=True)
class TranslationModel:
    """A checked translation checkpoint, as the graph runs it and the sidecars record it.

    Attributes
    ----------
    checkpoint
        The checkpoint folder.
    architecture
        Registry name of the network (e.g. ``res_unet``).
    weights_sha256
        Digest of the weights file.
    normalisation
        Intensity normalisation of the network input (``min-max`` or ``white-matter``).
    network_grid
        The network's input grid, e.g. ``"128x128x128"``.
    output_resampling
        How the output comes back to the t1-linear grid.
    name
        Name of a model shipped with ce2nce; ``None`` otherwise (the sidecar's ``Model`` is then
        the checkpoint folder's name, and ``Checkpoint`` its path).
    """

    checkpoint: Path
    architecture: str
    weights_sha256: str
    normalisation: str = "min-max"
    network_grid: str = "128x128x128"
    output_resampling: OutputResampling = "round-trip"
    name: str | None = None

    @property
    def model_name(self) -> str:
        """The shipped model's name, or the checkpoint folder's name."""
        return self.name or self.checkpoint.name

    def checkpoint_reference(self) -> str | None:
        """Where the checkpoint is, as a table that travels records it.

        ``None`` for the shipped model (its name and digest say it all); else the folder,
        relative to the working directory when it lies under it, absolute otherwise.
        """
        if self.name:
            return None
        folder = Path(self.checkpoint).absolute()
        try:
            return folder.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return str(folder)

    def sidecar(self) -> dict[str, str]:
        """The ``TranslationModel`` entry of a synthetic image's sidecar.

        The model is named by its name and weights digest; the checkpoint's path is recorded
        only for a model that is not the shipped one (:meth:`checkpoint_reference`).
        """
        reference = self.checkpoint_reference()
        return (
            {"Model": self.model_name}
            | ({"Checkpoint": reference} if reference is not None else {})
            | {
                "Architecture": self.architecture,
                "WeightsSha256": self.weights_sha256,
                "IntensityNormalisation": self.normalisation,
                "NetworkGrid": self.network_grid,
                "OutputResampling": self.output_resampling,
            }
        )
