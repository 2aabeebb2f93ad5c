"""Simulated T1w-ce and T1w-nce images on the t1-linear grid for the gadolinium detector.

    python simulate_images.py WORK_DIR [--n-train 16] [--n-validation 8] [--processes 1]

Each pair is a t1-linear base (Colin27 with its head, Colin27 skull-stripped, alternating; put
through t1-linear once, as ``ce2nce_pipeline.simulation.training_set`` does) augmented with its
own seed, then

- ``ce``: the simulator's gadolinium-enhanced copy, through the acquisition of a good or
  low-quality series (``sample_parameters``);
- ``nce``: the same subject without gadolinium (lesions included, dark as they are before
  contrast), through an acquisition of its own drawn from a good or low-quality preset
  independently of the ce's, so that noise, blur, thick slices, bias and a flat grey/white
  contrast are no sign of contrast for the detector.

Writes ``WORK_DIR/images/<pair>_{ce,nce}.nii.gz`` and ``WORK_DIR/images.tsv`` (columns image,
path, label, split, base, quality); existing images are kept.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import nibabel as nib
import numpy as np

from ce2nce_pipeline.simulation.anatomy import build_anatomy
from ce2nce_pipeline.simulation.augmentation import augment, sample_augmentation
from ce2nce_pipeline.simulation.bids_writer import atomic_save_nifti
from ce2nce_pipeline.simulation.simulator import apply_acquisition, sample_parameters, simulate_ce
from ce2nce_pipeline.simulation.training_set import t1_linear_base

#: Bases, alternating: a whole head and a skull-stripped one of the same subject.
BASES = ("colin27", "colin27-brain")
#: Seeds of pair i: SEED_OFFSET + i (apart from the default model's training seeds).
SEED_OFFSET = 7000
#: Probability of the low-quality preset, drawn for the ce and the nce independently.
LOW_QUALITY_FRACTION = 0.4
#: Probability of a ring-enhancing mass (and, independently, of nodules) per pair.
LESION_PROBABILITY = 0.3


def simulate_pair(job: tuple[int, str, Path, Path]) -> list[tuple[str, ...]]:
    index, split, base_file, out_dir = job
    seed = SEED_OFFSET + index
    base_name = BASES[index % len(BASES)]
    rng = np.random.default_rng(seed)
    quality = {
        k: ("low" if rng.random() < LOW_QUALITY_FRACTION else "good") for k in ("ce", "nce")
    }
    pair = f"gd{index:03d}"
    files = {k: out_dir / f"{pair}_{k}.nii.gz" for k in ("ce", "nce")}
    if not all(path.exists() for path in files.values()):
        source = nib.load(base_file)
        base = nib.Nifti1Image(
            np.asarray(source.dataobj, np.float32), source.affine, source.header
        )
        subject = augment(base, sample_augmentation(rng), seed=seed)
        anatomy = build_anatomy(subject, space="mni")
        params = sample_parameters(
            rng, quality=quality["ce"], lesion_probability=LESION_PROBABILITY, space="mni"
        )
        ce, info = simulate_ce(subject, params, seed=seed, anatomy=anatomy)
        nce_params = sample_parameters(rng, quality=quality["nce"], space="mni")
        nce_data = apply_acquisition(info.nce_image.get_fdata(dtype=np.float32), anatomy,
                                     nce_params, seed + 100000)  # fmt: skip
        nce = nib.Nifti1Image(nce_data, subject.affine, subject.header)
        atomic_save_nifti(files["ce"], ce)
        atomic_save_nifti(files["nce"], nce)
    return [
        (f"{pair}_{kind}", files[kind].name, "1" if kind == "ce" else "0", split, base_name,
         quality[kind])
        for kind in ("ce", "nce")
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--n-train", type=int, default=16)
    parser.add_argument("--n-validation", type=int, default=8)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    work = args.work_dir.resolve()
    out_dir = work / "images"
    out_dir.mkdir(parents=True, exist_ok=True)
    bases = {name: t1_linear_base(name, work / "bases") for name in BASES}
    n = args.n_train + args.n_validation
    jobs = [
        (i, "train" if i < args.n_train else "validation", bases[BASES[i % len(BASES)]], out_dir)
        for i in range(n)
    ]
    if args.processes > 1:
        with ProcessPoolExecutor(args.processes, mp_context=get_context("forkserver")) as pool:
            rows = [row for rows in pool.map(simulate_pair, jobs) for row in rows]
    else:
        rows = [row for job in jobs for row in simulate_pair(job)]
    lines = ["image\tpath\tlabel\tsplit\tbase\tquality"]
    lines += ["\t".join((r[0], f"images/{r[1]}", *r[2:])) for r in rows]
    (work / "images.tsv").write_text("\n".join(lines) + "\n")
    print(f"{len(rows)} images in {work / 'images.tsv'}")


if __name__ == "__main__":
    main()
