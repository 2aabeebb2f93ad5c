"""Atomic file writers: every output ce2nce writes appears whole or not at all.

A writer fills a temporary file beside its destination and renames it into place, so a crash,
a kill or a full disk never leaves half a file under the final name. The temporary file is
removed on any failure, and by a stopped worker as it exits
(:func:`~ce2nce_pipeline.workers.registered_temporary_file`). No nipype here: the CLI, the group
level, the simulator and the sinks all write through these functions.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import DiskFullError, InvalidInputError, disk_full_message
from .workers import registered_temporary_file, temporary_prefix

#: How an image may be stored: as computed, or as integers with a NIfTI scale factor
#: (``scl_slope``; ``scl_inter`` 0, so that zero stays exactly zero).
STORAGES = ("as-is", "int16", "uint8")

__all__ = [
    "STORAGES",
    "atomic_copy",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_nifti",
    "atomic_write_text",
    "publish",
    "quantised",
    "require_writable_folder",
]


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


def quantised(image, storage: str):
    """``image`` stored as integers with a NIfTI scale factor; the input is not modified.

    Readers that apply the scale factor (nibabel, ANTs, FSL, SPM) read back the values within
    half a step; zero stays exactly zero.

    Parameters
    ----------
    image : nibabel.Nifti1Image
        A 3-D image of finite values.
    storage : {"int16", "uint8"}
        ``int16``: any values, step ``max(|values|) / 32767``. ``uint8``: a probability map,
        values clipped to [0, 1], step 1/255.

    Returns
    -------
    nibabel.Nifti1Image
        The integer image, same affine and header fields, ``scl_slope`` set.

    Raises
    ------
    ValueError
        On an unknown ``storage`` or on NaN or infinite values.
    """
    import nibabel as nib
    import numpy as np

    if storage not in ("int16", "uint8"):
        raise ValueError(f"storage {storage!r} is not one of int16, uint8")
    data = np.asanyarray(image.dataobj, dtype=np.float64)
    if not np.isfinite(data).all():
        raise ValueError("cannot store NaN or infinite values as integers")
    if storage == "uint8":
        slope = 1.0 / 255.0
        integers = np.rint(np.clip(data, 0.0, 1.0) / slope).astype(np.uint8)
    else:
        peak = float(np.abs(data).max())
        # The header keeps the slope as float32: use that slope (never below the exact one,
        # so that the peak still fits), else the error grows with the integer's size.
        slope = np.float32(peak / 32767.0 if peak > 0 else 1.0)
        if float(slope) * 32767.0 < peak:
            slope = np.nextafter(slope, np.float32(np.inf))
        slope = float(slope)
        integers = np.clip(np.rint(data / slope), -32767, 32767).astype(np.int16)
    header = image.header.copy()
    header.set_data_dtype(integers.dtype)
    stored = nib.Nifti1Image(integers, image.affine, header)
    stored.header.set_slope_inter(slope, 0.0)
    return stored


def atomic_write_nifti(image, destination: Path, compresslevel: int = 6) -> None:
    """Write a NIfTI-1 image atomically, gzip-compressed when ``destination`` ends in ``.gz``.

    ``compresslevel`` 6 (nibabel's own writer uses 1): on t1-linear images stored as integers,
    about 1 % smaller for about a second more per image.
    """
    import gzip

    data = image.to_bytes()
    if destination.name.endswith(".gz"):
        data = gzip.compress(data, compresslevel=compresslevel, mtime=0)
    atomic_write_bytes(data, destination)


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def require_writable_folder(folder: Path, name: str) -> None:
    """Check, writing nothing that stays, that ``folder`` can be created and written.

    A folder that is read-only (a container volume mounted ``:ro``, a read-only file system)
    or belongs to another user is refused before any work, in one line.

    Parameters
    ----------
    folder
        The output or work folder (created later by the run, if missing).
    name
        How the command line calls it (``OUTPUT_DIR``, ``--work-dir``), for the message.

    Raises
    ------
    InvalidInputError
        When the folder, or the folder it would be created in, cannot be written.
    """
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise InvalidInputError(f"{name} {folder}: {existing} is a file, not a folder")
    reason = None
    if existing == folder:
        try:
            with tempfile.TemporaryFile(dir=folder, prefix=".ce2nce_write_check_"):
                pass
        except OSError as error:
            reason = os.strerror(error.errno) if error.errno else str(error)
    elif not os.access(existing, os.W_OK | os.X_OK):
        reason = f"cannot create it in {existing}"
    if reason is not None:
        raise InvalidInputError(
            f"{name} {folder} is not writable ({reason.lower()}): choose a folder you can "
            "write, or in a container mount it read-write and run as its owner "
            '(docker run -u "$(id -u):$(id -g)")'
        )
