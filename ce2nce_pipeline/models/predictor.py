"""Apply a translation network to t1-linear images.

Build a :class:`Predictor` once, from a checkpoint, then call :meth:`Predictor.predict` on
each image::

    predictor = Predictor.from_checkpoint("att_unet_small/", device="auto", num_threads=2)
    synthetic = predictor.predict(nibabel.load("sub-01_ce-gadolinium_..._T1w.nii.gz"))

Each image goes through the steps of Bottani et al. 2024 (§2.2): min-max scaling to [0, 1]
(or the normalisation the checkpoint records, :mod:`ce2nce_pipeline.science.intensity`),
trilinear resampling 169×208×179 → 128³, the network, resampling back, and the inverse
intensity mapping; the result keeps the input's affine and header. A checkpoint whose network
grid is the t1-linear grid itself skips both resamplings: the network runs on the volume
zero-padded to a multiple of 32, at full resolution. On a coarser grid, ``output_resampling``
``"keep-detail"`` resamples only the network's change and applies it to the full-resolution
input (:func:`~ce2nce_pipeline.science.resampling.keep_detail`), so the anatomy is not blurred;
``"round-trip"`` resamples the output itself, as the paper does.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from torch import nn

from ..science.change_region import check_change_region, confine_change
from ..science.devices import resolve_device
from ..science.enhancement_opening import remove_enhancement
from ..science.intensity import scale_network_input
from ..science.qc import flip_sd
from ..science.resampling import (
    NETWORK_SHAPE,
    OUTPUT_RESAMPLINGS,
    MinMaxParams,
    check_t1_linear_shape,
    is_t1_linear_shape,
    keep_detail,
    minmax_unscale,
    resample_to_shape,
    run_padded,
)
from .checkpoint import (
    checkpoint_change_region,
    checkpoint_normalisation,
    checkpoint_output_resampling,
    load_checkpoint,
)

__all__ = ["Predictor", "deterministic_cudnn", "resolve_device"]

LOGGER = logging.getLogger(__name__)


@contextlib.contextmanager
def deterministic_cudnn() -> Iterator[None]:
    """Within the block, cuDNN picks deterministic algorithms and does no benchmarking.

    Only ``torch.backends.cudnn.deterministic`` and ``.benchmark`` are changed, and restored on
    exit (``torch.backends.cudnn.flags`` would also reset ``enabled`` and the TF32 settings).
    """
    cudnn = torch.backends.cudnn
    saved = (cudnn.deterministic, cudnn.benchmark)
    cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark = saved


def _keep_empty_voxels_empty(output: np.ndarray, source: np.ndarray) -> None:
    """Zero the output (in place) where the T1w-ce is exactly zero.

    An exact zero is no signal: outside the scanner's field of view, a background the scanner
    zeroed, or everything but the brain of a skull-stripped image. Translation does not create
    tissue there; left alone, the network's resampled output spreads a faint rim around such an
    image that a brain mask taken from its support would count as brain.
    """
    output[source == 0] = 0.0


def _source(image: nib.spatialimages.SpatialImage) -> str:
    filename = image.get_filename()
    return os.fspath(filename) if filename else "<in-memory image>"


class Predictor:
    """A translation network ready to apply to t1-linear images.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``N×1×D×H×W`` [0, 1]-scaled volumes to ``N×1×D×H×W``, [0, 1]-ranged outputs.
    metadata : dict, optional
        Checkpoint metadata (see :func:`~ce2nce_pipeline.models.checkpoint.load_checkpoint`);
        its network grid and intensity normalisation are used when present (min-max, the
        paper's, otherwise).
    device : str or torch.device
        ``"auto"`` (CUDA if available, else CPU), ``"cpu"`` or ``"cuda[:i]"``.
    num_threads : int, optional
        Set ``torch.set_num_threads`` (process-wide) for CPU inference.
    mixed_precision : bool
        On CUDA, run the network under float16 autocast. Ignored on CPU, which always
        computes in float32.
    batch_size : int
        Volumes per forward pass in :meth:`predict_batch`.
    output_resampling : {"round-trip", "keep-detail"}, optional
        How the output of a network on a coarser grid than the t1-linear one comes back:
        the output resampled (``"round-trip"``, the paper) or only the network's change,
        applied to the full-resolution input (``"keep-detail"``). Default: what the checkpoint
        records, else ``"round-trip"``. No effect on full-resolution networks.
    enhancement_opening : bool
        After the network, subtract the enhancement that a grey-level opening finds in its
        output (:mod:`ce2nce_pipeline.science.enhancement_opening`): thin structures brighter
        than white matter that the network left.
    change_region : {"everywhere", "intracranial"}, optional
        Where the network's change is kept, the input given back elsewhere
        (:mod:`ce2nce_pipeline.science.change_region`). Default: what the checkpoint records,
        else ``"everywhere"``.

    Notes
    -----
    Inference runs under ``torch.inference_mode`` with the network in eval mode (no dropout,
    batch-norm running statistics); on CUDA cuDNN is put in deterministic mode for the call.
    The same input thus gives the same output on the same machine and device.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        metadata: dict[str, Any] | None = None,
        device: str | torch.device = "auto",
        num_threads: int | None = None,
        mixed_precision: bool = True,
        batch_size: int = 1,
        output_resampling: str | None = None,
        enhancement_opening: bool = False,
        change_region: str | None = None,
    ) -> None:
        if num_threads is not None:
            if (
                isinstance(num_threads, bool)
                or not isinstance(num_threads, int)
                or num_threads < 1
            ):
                raise ValueError(f"num_threads must be a positive integer, got {num_threads!r}")
            torch.set_num_threads(num_threads)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.device = resolve_device(device)
        self.metadata = metadata or {}
        grid = self.metadata.get("preprocessing", {}).get("network_grid", {}).get("shape")
        self.network_shape: tuple[int, int, int] = tuple(grid) if grid else NETWORK_SHAPE
        #: How inputs are scaled before the network (:mod:`ce2nce_pipeline.science.intensity`).
        self.normalisation = checkpoint_normalisation(self.metadata)
        if output_resampling is None:
            output_resampling = checkpoint_output_resampling(self.metadata)
        if output_resampling not in OUTPUT_RESAMPLINGS:
            raise ValueError(
                f"unknown output resampling {output_resampling!r}; choose one of "
                f"{list(OUTPUT_RESAMPLINGS)}"
            )
        #: How outputs of a network on a coarser grid return to the t1-linear grid.
        self.output_resampling = output_resampling
        #: Whether the enhancement an opening finds in the network's output is subtracted.
        self.enhancement_opening = bool(enhancement_opening)
        if change_region is None:
            change_region = checkpoint_change_region(self.metadata)
        check_change_region(change_region)
        #: Where the network's change is kept (the input elsewhere).
        self.change_region = change_region
        self.mixed_precision = bool(mixed_precision) and self.device.type == "cuda"
        self.batch_size = batch_size
        self.model = model.to(self.device).eval()
        #: Checkpoint directory, when built by :meth:`from_checkpoint`.
        self.checkpoint_path: Path | None = None

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike[str],
        device: str | torch.device = "auto",
        num_threads: int | None = None,
        **kwargs: Any,
    ) -> Predictor:
        """Load and verify a checkpoint (sha256 included) and build a predictor from it.

        Parameters
        ----------
        path : path-like
            Checkpoint directory.
        device, num_threads
            See :class:`Predictor`.
        **kwargs
            ``mixed_precision``, ``batch_size``, ``output_resampling``,
            ``enhancement_opening``, ``change_region``.

        Raises
        ------
        CheckpointError
            If the checkpoint is invalid or tampered with.
        ValueError
            For an unavailable device.
        """
        resolved = resolve_device(device)
        model, metadata = load_checkpoint(path, device=resolved)
        predictor = cls(
            model, metadata=metadata, device=resolved, num_threads=num_threads, **kwargs
        )
        predictor.checkpoint_path = Path(path)
        return predictor

    @property
    def architecture(self) -> str | None:
        """Architecture name recorded in the checkpoint, if any."""
        return self.metadata.get("architecture", {}).get("name")

    @property
    def weights_sha256(self) -> str | None:
        """sha256 of the checkpoint's weights file, if loaded from a checkpoint."""
        return self.metadata.get("weights", {}).get("sha256")

    def _prepare(self, image: nib.spatialimages.SpatialImage) -> tuple[np.ndarray, MinMaxParams]:
        if not isinstance(image, nib.spatialimages.SpatialImage):
            raise TypeError(f"expected a nibabel image, got {type(image).__name__}")
        source = _source(image)
        if len(image.shape) != 3:
            raise ValueError(
                f"{source}: expected a 3D image, got shape {'×'.join(map(str, image.shape))}"
            )
        check_t1_linear_shape(image.shape, source=source)
        data = image.get_fdata(dtype=np.float32, caching="unchanged")
        return scale_network_input(data, self.normalisation, source=source)

    @contextlib.contextmanager
    def _inference_context(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.inference_mode())
            if self.device.type == "cuda":
                stack.enter_context(deterministic_cudnn())
                if self.mixed_precision:
                    stack.enter_context(torch.autocast("cuda", dtype=torch.float16))
            yield

    def _run(self, scaled: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Translate [0, 1]-scaled t1-linear arrays; return [0, 1] arrays on the same grid."""
        batch = torch.stack([torch.from_numpy(np.ascontiguousarray(a)) for a in scaled])
        batch = batch[:, None].to(self.device, dtype=torch.float32)
        input_shape = tuple(batch.shape[2:])
        with self._inference_context():
            if is_t1_linear_shape(self.network_shape):
                # Full resolution: no resampling, the volume zero-padded to the size multiple.
                output = run_padded(self.model, batch)
            else:
                # A grid whose sides are not a multiple of the size multiple (a 2 mm grid) is
                # zero-padded like the full-resolution one; 128³ needs no padding.
                network_input = resample_to_shape(batch, self.network_shape)
                output = run_padded(self.model, network_input)
            # Clip before resampling back: trilinear interpolation is convex, so the output
            # stays in [0, 1] and maps into the input's intensity range.
            output = output.float().clamp_(0.0, 1.0)
            if self.output_resampling == "keep-detail" and not is_t1_linear_shape(
                self.network_shape
            ):
                output = keep_detail(
                    batch,
                    resample_to_shape(network_input, input_shape),
                    resample_to_shape(output, input_shape),
                ).clamp_(0.0, 1.0)
            else:
                output = resample_to_shape(output, input_shape)
        return [volume[0].cpu().numpy() for volume in output]

    def _finish(self, output: np.ndarray, source: np.ndarray) -> np.ndarray:
        """The network's output in the input's units (``source``: the input), kept in its
        change region, with the opening's enhancement removed when asked (float32)."""
        output = confine_change(output, source, self.change_region)
        return remove_enhancement(output) if self.enhancement_opening else output

    def _wrap(
        self,
        image: nib.spatialimages.SpatialImage,
        scaled_output: np.ndarray,
        params: MinMaxParams,
    ) -> nib.Nifti1Image:
        source = image.get_fdata(dtype=np.float32, caching="unchanged")
        data = self._finish(minmax_unscale(scaled_output, params), source)
        _keep_empty_voxels_empty(data, source)
        if isinstance(image, nib.Nifti1Image):
            header = image.header.copy()
        else:
            header = nib.Nifti1Header.from_header(image.header)
        header.set_data_dtype(np.float32)
        header.set_slope_inter(None, None)
        return nib.Nifti1Image(data, image.affine, header)

    def predict_array(self, data: np.ndarray) -> np.ndarray:
        """Translate a t1-linear array (169×208×179); return float32 in the input's range.

        Raises
        ------
        ValueError
            For another shape, non-finite values or a constant array.
        """
        check_t1_linear_shape(np.shape(data))
        scaled, params = scale_network_input(
            np.asarray(data, dtype=np.float32), self.normalisation
        )
        (output,) = self._run([scaled])
        output = self._finish(minmax_unscale(output, params), np.asarray(data, np.float32))
        _keep_empty_voxels_empty(output, np.asarray(data))
        return output

    def predict(self, image: nib.spatialimages.SpatialImage) -> nib.Nifti1Image:
        """Translate one t1-linear T1w-ce image into a synthetic T1w-nce.

        Parameters
        ----------
        image : nibabel image
            3D, 169×208×179 (Clinica ``t1-linear``), finite and not constant.

        Returns
        -------
        nibabel.Nifti1Image
            float32, 169×208×179, intensities within the input's [min, max], the input's
            affine and a copy of its header.

        Raises
        ------
        ValueError
            Naming the file, for an image not 3D, not on the t1-linear grid, with NaN or
            infinite values, or constant.
        """
        scaled, params = self._prepare(image)
        (output,) = self._run([scaled])
        LOGGER.debug("Translated %s", _source(image))
        return self._wrap(image, output, params)

    def predict_with_flip_sd(
        self, image: nib.spatialimages.SpatialImage
    ) -> tuple[nib.Nifti1Image, nib.Nifti1Image]:
        """Translate an image and measure the network's left-right flip uncertainty.

        The network also runs on the image mirrored left-right (the first axis of the
        t1-linear grid, RAS), and its output is mirrored back. The synthetic image is the output
        on the image itself, identical to :meth:`predict`; the second image is the voxel-wise
        standard deviation of the two outputs (flip test-time augmentation), in the input's
        intensity units.

        Returns
        -------
        synthetic, sd : nibabel.Nifti1Image
            On the input's grid; the synthetic image float32, the sd map float32 in memory and
            scaled uint16 on disk.
        """
        scaled, params = self._prepare(image)
        outputs = self._run([scaled, np.ascontiguousarray(scaled[::-1])])
        first = np.asarray(minmax_unscale(outputs[0], params), dtype=np.float32)
        mirrored = np.asarray(minmax_unscale(outputs[1][::-1], params), dtype=np.float32)
        sd = flip_sd(first, mirrored)
        LOGGER.debug("Translated %s with its mirror", _source(image))
        return self._wrap(image, outputs[0], params), self._wrap_array(image, sd)

    def _wrap_array(
        self, image: nib.spatialimages.SpatialImage, data: np.ndarray
    ) -> nib.Nifti1Image:
        """A non-negative map on the input's grid, stored as scaled uint16 (half of float32).

        nibabel chooses the scale factor when the image is saved (step: max / 65535).
        """
        if isinstance(image, nib.Nifti1Image):
            header = image.header.copy()
        else:
            header = nib.Nifti1Header.from_header(image.header)
        header.set_data_dtype(np.uint16)
        header.set_slope_inter(None, None)
        return nib.Nifti1Image(np.asarray(data, dtype=np.float32), image.affine, header)

    def predict_batch(
        self, images: Sequence[nib.spatialimages.SpatialImage]
    ) -> list[nib.Nifti1Image]:
        """Translate several images, ``batch_size`` volumes per forward pass.

        Every image is validated before any is translated; each is scaled on its own.

        Raises
        ------
        ValueError
            As :meth:`predict`, for the first invalid image.
        """
        prepared = [self._prepare(image) for image in images]
        results: list[nib.Nifti1Image] = []
        for start in range(0, len(prepared), self.batch_size):
            chunk = prepared[start : start + self.batch_size]
            outputs = self._run([scaled for scaled, _ in chunk])
            for offset, (output, (_, params)) in enumerate(zip(outputs, chunk, strict=True)):
                results.append(self._wrap(images[start + offset], output, params))
        return results
