"""Where torch computations run: one rule for the translation, the brain masks and training."""

from __future__ import annotations

import torch

__all__ = ["cuda_unavailable_reason", "resolve_device", "resolve_device_or_cpu"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda[:i]"`` into a device.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:i"``.

    Returns
    -------
    torch.device
        A CPU or CUDA device.

    Raises
    ------
    ValueError
        For an unknown device string, or CUDA requested where none is available.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda[:i]'") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}; use 'auto', 'cpu' or 'cuda[:i]'")
    return resolved


def cuda_unavailable_reason() -> str | None:
    """Why torch sees no CUDA device here (``None`` when it sees one), in words for a user."""
    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    return (
        f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU: no driver or no "
        "device given to the container (docker run --gpus all, apptainer run --nv)"
    )


def resolve_device_or_cpu(device: str = "auto") -> tuple[torch.device, str | None]:
    """Like :func:`resolve_device`, but a CUDA device missing here falls back to the CPU.

    The participant level uses this: a run asked for ``--device cuda`` on a machine without a
    GPU still completes, on the CPU, and says so.

    Returns
    -------
    torch.device
        The device the networks will run on.
    str or None
        Why CUDA was asked for and the CPU is used instead (``None``: no fallback).

    Raises
    ------
    ValueError
        For an unknown device string, or a CUDA index beyond the GPUs present.
    """
    reason = None if device == "auto" else cuda_unavailable_reason()
    if reason is not None and torch.device(_checked(device)).type == "cuda":
        return torch.device("cpu"), reason
    resolved = resolve_device(device)
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        raise ValueError(
            f"device {device!r} requested but this machine has {torch.cuda.device_count()} GPU(s)"
        )
    return resolved, None


def _checked(device: str) -> str:
    try:
        torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda[:i]'") from error
    return device
