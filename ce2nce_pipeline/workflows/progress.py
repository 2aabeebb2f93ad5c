"""Progress of a participant run: a line per finished stage of each image, and a live count.

nipype's plugins call a ``status_callback`` with ``(node, "start" | "end" | "exception")`` from
the process that runs the graph; :class:`RunProgress` is that callback. It knows, from the graph
itself, which nodes belong to which image (each image's branch is a set of sub-workflows named
``<prefix>_<image stem>_wf`` under ``sub_<label>_wf``), so that an image counts as done when
every node of its branch has finished, and as failed at its first failing node::

    ce2nce: sub-01_ses-M000_ce-gadolinium_T1w: N4 done in 41 s
    ce2nce: sub-01_ses-M000_ce-gadolinium_T1w: registration done in 1 min 02 s
    ...
    ce2nce: 3/5 images done (sub-01_ses-M000_ce-gadolinium_T1w in 6 min 10 s)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from nipype.interfaces.utility import IdentityInterface
from nipype.pipeline import engine as pe

from ..bids import T1wImage
from ..console import progress
from .base import BRANCH_PREFIXES, branch_name

LOGGER = logging.getLogger("ce2nce")

#: The stages a user is told about: (branch prefix, node name) -> stage name. The other nodes
#: (crop, the output writers, the union of a pair's masks) count toward an image being done.
STAGES: dict[tuple[str, str], str] = {
    ("t1_linear", "n4_correction"): "N4",
    ("t1_linear", "registration"): "registration",
    ("translate", "translate"): "translation",
    ("brain_mask", "brain_mask"): "brain mask",
    ("brain_mask_synthetic", "brain_mask"): "brain mask of the synthetic T1w-nce",
    ("segmentation", "segmentation"): "segmentation",
    ("segmentation", "spm_segment"): "segmentation",
    ("segmentation_synthetic", "segmentation"): "segmentation of the synthetic T1w-nce",
    ("segmentation_synthetic", "spm_segment"): "segmentation of the synthetic T1w-nce",
}


def duration(seconds: float) -> str:
    """``4.2 s``, ``41 s``, ``6 min 05 s``, ``2 h 03 min``: a duration as a person reads it."""
    if round(seconds, 1) < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def image_label(image: T1wImage) -> str:
    """The image's BIDS file name without its extension (``sub-01_ses-M000_T1w``)."""
    return image.path.name.split(".")[0]


def _branch_nodes(workflow: pe.Workflow, images: Sequence[T1wImage]) -> dict[str, tuple]:
    """Each node that runs (hierarchical name below the top workflow) -> (image, prefix, name).

    Identity nodes are left out: nipype removes them from the graph it runs.
    """
    branches = {
        f"sub_{image.subject}_wf.{branch_name(prefix, image)}": (image, prefix)
        for image in images
        for prefix in BRANCH_PREFIXES
    }
    nodes = {}
    for name in workflow.list_node_names():
        parts = name.split(".")
        owner = branches.get(".".join(parts[:2]))
        if owner is None or isinstance(workflow.get_node(name).interface, IdentityInterface):
            continue
        nodes[name] = (*owner, parts[-1])
    return nodes


class RunProgress:
    """The ``status_callback`` of a participant graph: progress lines through ``progress()``.

    Parameters
    ----------
    workflow
        The graph about to run (``init_ce2nce_wf``).
    images
        The images it processes.
    """

    def __init__(self, workflow: pe.Workflow, images: Sequence[T1wImage]) -> None:
        self._nodes = _branch_nodes(workflow, images)
        self._pending = {image: set() for image in images}
        for name, (image, _, _) in self._nodes.items():
            self._pending[image].add(name)
        self._started: dict[str, float] = {}
        self._first_start: dict[T1wImage, float] = {}
        self._finished: set[T1wImage] = set()
        #: Images that failed, with the stage (or node) where they failed.
        self.failed: dict[T1wImage, str] = {}
        self.total = len(images)

    @property
    def done(self) -> int:
        """How many images are finished, processed or failed."""
        return len(self._finished)

    def __call__(self, node: pe.Node, status: str) -> None:
        try:
            self._update(node.fullname.partition(".")[2], status)
        except Exception:  # noqa: BLE001 - progress lines must never stop the run
            LOGGER.debug("progress line of %s not shown", node.fullname, exc_info=True)

    def _update(self, name: str, status: str) -> None:
        if name not in self._nodes:
            return
        image, prefix, node_name = self._nodes[name]
        now = time.monotonic()
        if status == "start":
            self._started[name] = now
            self._first_start.setdefault(image, now)
            return
        if name not in self._pending[image]:  # nipype reports a failed node's end too
            return
        self._pending[image].discard(name)
        stage = STAGES.get((prefix, node_name))
        if status == "exception":
            self.failed.setdefault(image, stage or node_name)
            progress(f"ce2nce: {image_label(image)}: {stage or node_name} failed")
        elif stage is not None:
            started = self._started.get(name)
            # nipype reports a node it found in the work folder's cache as ended, never started.
            what = (
                "reused from the work folder"
                if started is None
                else (f"done in {duration(now - started)}")
            )
            progress(f"ce2nce: {image_label(image)}: {stage} {what}")
        self._count(image, now)

    def _count(self, image: T1wImage, now: float) -> None:
        """The live count, once per image: when its branch is through, or at its first failure."""
        if image in self._finished or (image not in self.failed and self._pending[image]):
            return
        self._finished.add(image)
        label = image_label(image)
        if image in self.failed:
            what = f"{label} failed at {self.failed[image]}"
        elif image in self._first_start:
            what = f"{label} in {duration(now - self._first_start[image])}"
        else:
            what = f"{label}, reused from the work folder"
        progress(f"ce2nce: {self.done}/{self.total} images done ({what})")
