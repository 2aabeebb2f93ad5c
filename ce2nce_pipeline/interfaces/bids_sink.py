"""The one way ce2nce writes a derivative: entity-aware names, atomic writes."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    SimpleInterface,
    TraitedSpec,
    traits,
)

from ..bids import entities_to_stem
from ..errors import DiskFullError, disk_full_message
from ..workers import registered_temporary_file, temporary_prefix


def derivative_name(
    entities: dict[str, str],
    suffix: str,
    extension: str,
    space: str | None = None,
    desc: str | None = None,
    res: str | None = None,
    label: str | None = None,
    clinica_order: bool = False,
) -> str:
    """File name of a derivative from its source's entities.

    Entities follow the source (``sub``, ``ses``, ``acq``, ``ce``, ``rec``, ``run``), then
    ``space``, ``res``, ``label``, ``desc`` in BIDS order, or, with ``clinica_order``, ``space``,
    ``desc``, ``res`` as Clinica's t1-linear names its images
    (``..._space-MNI152NLin2009cSym_desc-Crop_res-1x1x1_T1w.nii.gz``).
    """
    order = (
        (("space", space), ("desc", desc), ("res", res), ("label", label))
        if clinica_order
        else (("space", space), ("res", res), ("label", label), ("desc", desc))
    )
    parts = [entities_to_stem(entities)]
    for key, value in order:
        if value:
            parts.append(f"{key}-{value}")
    return "_".join(parts) + f"_{suffix}{extension}"


def derivative_dir(output_dir: Path, entities: dict[str, str], datatype: str = "anat") -> Path:
    """``output_dir/sub-X[/ses-Y]/datatype``."""
    folder = Path(output_dir) / f"sub-{entities['subject']}"
    if "session" in entities:
        folder = folder / f"ses-{entities['session']}"
    return folder / datatype


def publish(temporary: str | Path, destination: Path) -> None:
    """Give a finished temporary file the usual permissions and rename it to ``destination``.

    ``tempfile.mkstemp`` creates files readable by their owner only; outputs of a shared
    pipeline must follow the umask like any other file.
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)
    os.replace(temporary, destination)


def _write_atomically(destination: Path, write: Callable[[str], None]) -> None:
    """Run ``write(temporary)`` on a temporary file beside ``destination``, then rename it.

    The temporary file is removed on any failure, and also when a stopped worker exits
    (:func:`~ce2nce_pipeline.workers.registered_temporary_file`).

    Raises
    ------
    DiskFullError
        When the device is full (ENOSPC): one line naming ``destination``.
    """
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=destination.parent, prefix=temporary_prefix(destination)
        )
    except OSError as error:
        _raise_if_disk_full(error, destination)
        raise
    os.close(handle)
    try:
        with registered_temporary_file(temporary):
            write(temporary)
            publish(temporary, destination)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            _raise_if_disk_full(error, destination)
        raise


def _raise_if_disk_full(error: OSError, destination: Path) -> None:
    if error.errno == errno.ENOSPC:
        raise DiskFullError(disk_full_message(destination)) from None


def atomic_copy(source: Path, destination: Path) -> None:
    """Copy ``source`` to ``destination`` through a temporary file and a rename."""
    _write_atomically(destination, lambda temporary: shutil.copyfile(source, temporary))


def atomic_write_bytes(data: bytes, destination: Path) -> None:
    """Write ``data`` to ``destination`` through a temporary file and a rename."""
    _write_atomically(destination, lambda temporary: Path(temporary).write_bytes(data))


def atomic_write_text(text: str, destination: Path) -> None:
    """Write ``text`` (UTF-8) to ``destination`` through a temporary file and a rename."""
    atomic_write_bytes(text.encode("utf-8"), destination)


def atomic_write_json(data: dict[str, Any], destination: Path) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", destination)


def _extension(path: str) -> str:
    name = Path(path).name
    for extension in (".nii.gz", ".tsv", ".json", ".mat", ".nii"):
        if name.endswith(extension):
            return extension
    return Path(path).suffix


class _DerivativesDataSinkInputSpec(BaseInterfaceInputSpec):
    base_directory = traits.Str(mandatory=True, desc="root of the derivatives dataset")
    source_entities = traits.Dict(mandatory=True, desc="naming entities of the source image")
    in_file = File(exists=True, mandatory=True, desc="file to store")
    suffix = traits.Str(mandatory=True)
    space = traits.Str()
    desc = traits.Str()
    res = traits.Str()
    label = traits.Str()
    clinica_order = traits.Bool(False, usedefault=True, desc="desc before res, as Clinica")
    datatype = traits.Str("anat", usedefault=True)
    metadata = traits.Dict(desc="JSON sidecar content (written when not empty)")


class _DerivativesDataSinkOutputSpec(TraitedSpec):
    out_file = File(exists=True)
    out_meta = File(desc="JSON sidecar")


class DerivativesDataSink(SimpleInterface):
    """Store ``in_file`` in the derivatives dataset under a name built from BIDS entities."""

    input_spec = _DerivativesDataSinkInputSpec
    output_spec = _DerivativesDataSinkOutputSpec

    def _run_interface(self, runtime):
        inputs = self.inputs
        optional = {key: getattr(inputs, key) or None for key in ("space", "desc", "res", "label")}
        extension = _extension(inputs.in_file)
        name = derivative_name(
            inputs.source_entities,
            inputs.suffix,
            extension,
            **optional,
            clinica_order=inputs.clinica_order,
        )
        folder = derivative_dir(
            Path(inputs.base_directory), inputs.source_entities, inputs.datatype
        )
        destination = folder / name
        atomic_copy(Path(inputs.in_file), destination)
        self._results["out_file"] = str(destination)
        if inputs.metadata:
            sidecar = destination.with_name(name[: -len(extension)] + ".json")
            atomic_write_json(dict(inputs.metadata), sidecar)
            self._results["out_meta"] = str(sidecar)
        return runtime
