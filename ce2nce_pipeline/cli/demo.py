"""The out-of-the-box demo: a small simulated CDW-like BIDS dataset, run through ce2nce.

The contrast-enhanced images are translated by the default model shipped in the package (trained
on simulated pairs only; docs/default_model.md): the demo shows t1-linear, synthetic T1w-nce,
brain masks, tissue volumes and the group tables (real ce and synthetic nce against real nce).

Built offline from real heads (Colin27 from Debian's ``mricron-data``, the ICBM 2009a template
from nilearn) by ``ce2nce simulate``: augmented real T1w-nce images, each paired with a simulated
gadolinium-enhanced T1w-ce; some sessions hold the ce image only, one ce is of low quality.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from ..config import RunConfig
from ..science.brain_mask import MASK_BACKENDS

#: Arguments of ``ce2nce simulate`` for the demo dataset: 3 subjects, one ce-only session,
#: one low-quality ce, full 1 mm images; each pair two series (own acquisition, head motion).
DEMO_SIMULATION = (
    "--n-subjects", "3", "--seed", "2024", "--base", "colin27", "mni152",
    "--low-quality-fraction", "0.34", "--ce-only-fraction", "0.34", "--separate-series",
)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """``ce2nce-demo DEMO_DIR``: simulate the dataset, run the participant then group level."""
    from .run import main as ce2nce_main
    from .simulate import main as simulate_main

    parser = argparse.ArgumentParser(prog="ce2nce-demo", description=__doc__.splitlines()[0])
    parser.add_argument("demo_dir", type=Path, help="folder for the demo (bids/, derivatives/)")
    parser.add_argument("--nprocs", type=int, default=2, help="parallel processes (default 2)")
    parser.add_argument(
        "--size", choices=["full", "small"], default="full", help="small: 2 mm images (quick)"
    )
    parser.add_argument(
        "--mask-backend",
        choices=MASK_BACKENDS,
        default=RunConfig.mask_backend,
        help=f"brain masks of the participant level (default {RunConfig.mask_backend}; "
        "template: quicker, no network)",
    )
    args = parser.parse_args(argv)
    demo_dir = args.demo_dir.resolve()
    bids_dir = demo_dir / "bids"
    if bids_dir.exists():
        shutil.rmtree(bids_dir)
    code = simulate_main([str(bids_dir), *DEMO_SIMULATION, "--size", args.size])
    if code:
        return code
    output_dir = demo_dir / "derivatives" / "ce2nce"
    participant = ce2nce_main(
        [
            str(bids_dir), str(output_dir), "participant", "--nprocs", str(args.nprocs),
            "-w", str(demo_dir / "work"), "--mask-backend", args.mask_backend,
        ]
    )  # fmt: skip
    group = ce2nce_main([str(bids_dir), str(output_dir), "group"])
    print(f"ce2nce-demo: input dataset {bids_dir}")
    print(f"ce2nce-demo: derivatives   {output_dir}")
    print(f"ce2nce-demo: group tables  {output_dir / 'group'}")
    print(f"ce2nce-demo: methods text  {output_dir / 'logs' / 'CITATION.md'}")
    if group:
        print("ce2nce-demo: the group level reported missing inputs (see above)")
    return participant or group


if __name__ == "__main__":
    sys.exit(main())
