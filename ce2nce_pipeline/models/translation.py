"""A checked translation checkpoint: what the graph runs and what the sidecars record of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..science.change_region import ChangeRegion
from ..science.grids import OutputResampling


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
    enhancement_opening
        Whether the enhancement a grey-level opening finds in the network's output is
        subtracted (:mod:`~ce2nce_pipeline.science.enhancement_opening`).
    change_region
        Where the network's change is kept (:mod:`~ce2nce_pipeline.science.change_region`).
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
    enhancement_opening: bool = False
    change_region: ChangeRegion = "everywhere"

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: Path,
        output_resampling: OutputResampling | None = None,
        enhancement_opening: bool = False,
    ) -> TranslationModel:
        """Read and verify a checkpoint folder (weights digest, metadata) into a model.

        ``output_resampling`` ``None``: the checkpoint's recorded choice. The shipped model is
        named by its name.

        Raises
        ------
        CheckpointError
            The folder is not a loadable checkpoint (one line).
        """
        from .checkpoint import (
            checkpoint_change_region,
            checkpoint_normalisation,
            checkpoint_output_resampling,
            load_checkpoint,
        )
        from .default import DEFAULT_MODEL_NAME, default_model_path

        _, metadata = load_checkpoint(checkpoint)
        return cls(
            checkpoint=checkpoint,
            architecture=metadata["architecture"]["name"],
            weights_sha256=metadata["weights"]["sha256"],
            normalisation=checkpoint_normalisation(metadata),
            network_grid="x".join(map(str, metadata["preprocessing"]["network_grid"]["shape"])),
            output_resampling=output_resampling or checkpoint_output_resampling(metadata),
            name=DEFAULT_MODEL_NAME if checkpoint == default_model_path() else None,
            enhancement_opening=enhancement_opening,
            change_region=checkpoint_change_region(metadata),  # type: ignore[arg-type]
        )

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
                "ChangeRegion": self.change_region,
                "EnhancementOpening": self.enhancement_opening,
            }
        )
