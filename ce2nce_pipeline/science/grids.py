"""The two grids a network's volume moves between, and how its output comes back (no torch).

The functions that move volumes are in :mod:`.resampling`; these facts are read without them
(by the run's settings and the gadolinium detector).
"""

from __future__ import annotations

from typing import Literal, get_args

#: Shape of a Clinica ``t1-linear`` image (box [12:181, 13:221, 0:179] of MNI152NLin2009cSym 1 mm).
T1_LINEAR_SHAPE: tuple[int, int, int] = (169, 208, 179)
#: Shape of the volumes the networks see.
NETWORK_SHAPE: tuple[int, int, int] = (128, 128, 128)
#: How volumes are moved between the two grids; recorded verbatim in checkpoints.
RESAMPLING: dict[str, object] = {
    "method": "trilinear",
    "align_corners": False,
    "antialias": False,
    "implementation": "torch.nn.functional.interpolate",
}

#: How a network output on a coarser grid comes back to the input grid: ``"round-trip"`` (the
#: paper: the output resampled) or ``"keep-detail"`` (:func:`.resampling.keep_detail`).
OutputResampling = Literal["round-trip", "keep-detail"]
OUTPUT_RESAMPLINGS: tuple[str, ...] = get_args(OutputResampling)
