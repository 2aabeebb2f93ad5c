"""Cost and agreement of lighter Atropos settings against the default segmentation.

On each t1-linear image given (its brain mask: the template mask adapted to the image), runs
the ``ants`` segmentation with the default settings (3 EM iterations, MRF 0.1), with 2 and 1
iterations and without the MRF; prints the core-seconds (one ITK thread), the Dice of each
tissue's label map and the change of each tissue volume against the default.

    .venv/bin/python benchmarks/bench_atropos.py T1_LINEAR_IMAGE [...]

Numbers are documented in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import resource
import sys

os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402

from ce2nce_pipeline.science.brain_mask import template_brain_mask  # noqa: E402
from ce2nce_pipeline.science.segmentation import AtroposSettings, segment_ants  # noqa: E402
from ce2nce_pipeline.science.volumes import dice  # noqa: E402

SETTINGS = {
    "default (3 iterations, MRF 0.1)": AtroposSettings(),
    "2 iterations": AtroposSettings(iterations=2),
    "1 iteration": AtroposSettings(iterations=1),
    "no MRF": AtroposSettings(mrf_smoothing=0.0),
}
TISSUES = ((1, "gm"), (2, "wm"), (3, "csf"))


def _core_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    for path in sys.argv[1:]:
        image = nib.load(path)
        mask = nib.Nifti1Image(template_brain_mask(image).astype(np.uint8), image.affine)
        reference = None
        for name, settings in SETTINGS.items():
            start = _core_seconds()
            maps = segment_ants(image, mask, settings)
            seconds = _core_seconds() - start
            labels, volumes = maps.labels(), maps.volumes()
            reference = reference or (labels, volumes)
            agreement = " ".join(
                f"{tissue}: Dice {dice(labels == code, reference[0] == code):.3f} "
                f"dV {100 * (getattr(volumes, tissue) / getattr(reference[1], tissue) - 1):+.1f} %"
                for code, tissue in TISSUES
            )
            print(f"{os.path.basename(path)[:40]:40s} {name:32s} {seconds:5.1f} s  {agreement}")


if __name__ == "__main__":
    main()
