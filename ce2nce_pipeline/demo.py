"""The out-of-the-box demo: a small BIDS dataset of real heads, run through the participant level.

Real T1 images that install offline: Colin27 (Debian package ``mricron-data``, 1 mm, with skull)
and the ICBM 2009a symmetric template (nilearn wheel, skull-stripped). No contrast-enhanced image
is available offline; once the gadolinium simulator lands, the demo adds simulated ce sessions.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from .interfaces.bids_sink import atomic_copy, atomic_write_json, atomic_write_text
from .science.templates import nilearn_template_path

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")


def real_heads() -> dict[str, Path]:
    """Participant label -> real T1 image available on this machine."""
    if not COLIN27.is_file():
        raise FileNotFoundError(
            f"{COLIN27} is missing: install Debian's mricron-data (apt-get install mricron-data)"
        )
    return {"colin27": COLIN27, "mni152": nilearn_template_path()}


def build_demo_dataset(bids_dir: Path) -> Path:
    """Write the demo BIDS dataset (one session per real head) and return its root."""
    bids_dir = Path(bids_dir)
    heads = real_heads()
    atomic_write_json(
        {
            "Name": "ce2nce demo: real T1w heads available offline",
            "BIDSVersion": "1.10.0",
            "DatasetType": "raw",
            "Authors": ["ce2nce developers"],
            "License": "Colin27: see Debian mricron-data; MNI ICBM 2009: see nilearn",
        },
        bids_dir / "dataset_description.json",
    )
    atomic_write_text(
        "ce2nce demo dataset. sub-colin27: Colin Holmes' 27-average T1 (mricron-data). "
        "sub-mni152: ICBM 2009a nonlinear symmetric template (nilearn), skull-stripped.\n",
        bids_dir / "README",
    )
    atomic_write_text(
        "participant_id\tsource\n"
        + "".join(f"sub-{label}\t{path.name}\n" for label, path in heads.items()),
        bids_dir / "participants.tsv",
    )
    for label, source in heads.items():
        anat = bids_dir / f"sub-{label}" / "ses-M000" / "anat"
        atomic_copy(source, anat / f"sub-{label}_ses-M000_T1w.nii.gz")
        atomic_write_json(
            {"Description": f"copied from {source}"}, anat / f"sub-{label}_ses-M000_T1w.json"
        )
    return bids_dir


def main(argv: list[str] | None = None) -> int:
    """``ce2nce-demo DEMO_DIR``: build the demo dataset, run the participant level."""
    from .cli.run import main as ce2nce_main

    parser = argparse.ArgumentParser(prog="ce2nce-demo", description=__doc__.splitlines()[0])
    parser.add_argument("demo_dir", type=Path, help="folder for the demo (bids/, derivatives/)")
    parser.add_argument("--nprocs", type=int, default=2)
    args = parser.parse_args(argv)
    demo_dir = args.demo_dir.resolve()
    bids_dir = demo_dir / "bids"
    if bids_dir.exists():
        shutil.rmtree(bids_dir)
    try:
        build_demo_dataset(bids_dir)
    except FileNotFoundError as error:
        print(f"ce2nce-demo: error: {error}", file=sys.stderr)
        return 1
    output_dir = demo_dir / "derivatives" / "ce2nce"
    code = ce2nce_main(
        [
            str(bids_dir), str(output_dir), "participant", "--nprocs", str(args.nprocs),
            "-w", str(demo_dir / "work"),
        ]
    )  # fmt: skip
    print(f"ce2nce-demo: input dataset {bids_dir}")
    print(f"ce2nce-demo: derivatives  {output_dir}")
    print(f"ce2nce-demo: methods text {output_dir / 'logs' / 'CITATION.md'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
