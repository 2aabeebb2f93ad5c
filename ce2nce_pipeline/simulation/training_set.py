"""Simulated ce/nce pairs on the t1-linear grid: the data of the default model.

The real base images are first put through t1-linear (N4, affine registration to
MNI152NLin2009cSym, crop to 169x208x179) exactly as the BIDS app does. Each pair is then a base
augmented with its own seed (elastic deformation, intensity and bias) and a simulated
gadolinium-enhanced copy, drawn in MNI space on that grid (no second registration, so the pair
is perfectly aligned — real pairs are registered one image at a time).

Layout of the work folder (every file written atomically; an existing pair is kept, so an
interrupted build resumes)::

    bases/<base>_T1w.nii.gz            t1-linear images of the bases
    pairs/<pair_id>_{ce,nce,mask}.nii.gz, <pair_id>_simulation.json
    pairs.tsv                          training + validation pairs (split column)
    test_good.tsv, test_low.tsv        held-out pairs: a base and seeds never used for training

The held-out pairs use :data:`~.base_images.HELD_OUT_BASE` and seeds from
:data:`~.base_images.HELD_OUT_SEEDS`; training pairs use :data:`~.base_images.TRAINING_BASES` and
seeds below them.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import nibabel as nib
import numpy as np

from ..io import atomic_write_text
from .anatomy import build_anatomy
from .augmentation import augment, sample_augmentation
from .base_images import HELD_OUT_BASE, HELD_OUT_SEEDS, TRAINING_BASES, load_base_image
from .bids_writer import atomic_save_nifti
from .simulator import sample_parameters, simulate_ce

LOGGER = logging.getLogger("ce2nce.simulation")

#: Offset of the training seeds (pair i of the training set uses TRAINING_SEED_OFFSET + i).
TRAINING_SEED_OFFSET = 1000


@dataclass(frozen=True)
class PairSpec:
    """What one simulated pair is made of."""

    pair_id: str
    base: str
    seed: int
    quality: str
    split: str
    lesion_probability: float


@dataclass(frozen=True)
class TrainingSetPlan:
    """How many pairs of each kind to simulate.

    Attributes
    ----------
    n_train, n_validation
        Pairs on the training bases (alternating between them), ``low_quality_fraction`` of
        them with the low-quality preset.
    n_test_good, n_test_low
        Held-out pairs on :data:`HELD_OUT_BASE` with held-out seeds, good and low quality.
    lesion_probability
        Probability of a ring-enhancing mass (and, independently, of nodules) per pair.
    """

    n_train: int = 160
    n_validation: int = 16
    n_test_good: int = 20
    n_test_low: int = 10
    low_quality_fraction: float = 0.3
    lesion_probability: float = 0.2

    def __post_init__(self) -> None:
        for name in ("n_train", "n_validation", "n_test_good", "n_test_low"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.n_train < 1 or self.n_validation < 1:
            raise ValueError("n_train and n_validation must be >= 1")
        if self.n_test_good + self.n_test_low > len(HELD_OUT_SEEDS):
            raise ValueError(f"at most {len(HELD_OUT_SEEDS)} held-out pairs (HELD_OUT_SEEDS)")
        for name in ("low_quality_fraction", "lesion_probability"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1]")

    def pairs(self) -> list[PairSpec]:
        """Every pair of the plan, in a fixed order (a pure function of the plan)."""
        specs: list[PairSpec] = []
        n_fit = self.n_train + self.n_validation
        quality_rng = np.random.default_rng(TRAINING_SEED_OFFSET)
        low = quality_rng.random(n_fit) < self.low_quality_fraction
        for index in range(n_fit):
            split = "train" if index < self.n_train else "validation"
            specs.append(
                PairSpec(
                    pair_id=f"sim{index:04d}",
                    base=TRAINING_BASES[index % len(TRAINING_BASES)],
                    seed=TRAINING_SEED_OFFSET + index,
                    quality="low" if low[index] else "good",
                    split=split,
                    lesion_probability=self.lesion_probability,
                )
            )
        seeds = iter(HELD_OUT_SEEDS)
        for quality, count in (("good", self.n_test_good), ("low", self.n_test_low)):
            for index in range(count):
                specs.append(
                    PairSpec(
                        pair_id=f"test{quality}{index:03d}",
                        base=HELD_OUT_BASE,
                        seed=next(seeds),
                        quality=quality,
                        split=f"test_{quality}",
                        lesion_probability=self.lesion_probability,
                    )
                )
        return specs


def t1_linear_base(name: str, bases_dir: Path) -> Path:
    """Put a base image through t1-linear once; later calls return the cached file."""
    from ..science.t1_linear import t1_linear

    target = bases_dir / f"{name}_T1w.nii.gz"
    if target.exists():
        return target
    bases_dir.mkdir(parents=True, exist_ok=True)
    image = load_base_image(name)
    with tempfile.TemporaryDirectory(prefix=f"t1linear_{name}_", dir=bases_dir) as work:
        raw = Path(work) / "raw.nii.gz"
        nib.save(image, raw)
        cropped, _ = t1_linear(raw, Path(work))
        atomic_save_nifti(target, cropped)
    LOGGER.info("t1-linear base %s -> %s", name, target)
    return target


def _pair_files(pairs_dir: Path, pair_id: str) -> dict[str, Path]:
    return {kind: pairs_dir / f"{pair_id}_{kind}.nii.gz" for kind in ("ce", "nce", "mask")} | {
        "sidecar": pairs_dir / f"{pair_id}_simulation.json"
    }


def simulate_pair(spec: PairSpec, base_file: Path, pairs_dir: Path) -> dict[str, Path]:
    """Simulate one pair (unless its files exist) and return its files."""
    files = _pair_files(pairs_dir, spec.pair_id)
    if all(path.exists() for path in files.values()):
        return files
    source = nib.load(base_file)
    base = nib.Nifti1Image(
        np.asarray(source.dataobj, dtype=np.float32), source.affine, source.header
    )
    rng = np.random.default_rng(spec.seed)
    nce = augment(base, sample_augmentation(rng), seed=spec.seed)
    params = sample_parameters(
        rng, quality=spec.quality, lesion_probability=spec.lesion_probability, space="mni"
    )
    anatomy = build_anatomy(nce, space="mni")
    ce, info = simulate_ce(nce, params, seed=spec.seed, anatomy=anatomy)
    # The template brain mapped onto the pair: exact for the MNI152 base, approximate for an
    # augmented Colin27 (see docs/simulation.md); used for validation and evaluation metrics.
    mask = nib.Nifti1Image(anatomy.brain.astype(np.uint8), nce.affine)
    mask.header.set_xyzt_units("mm", "sec")
    atomic_save_nifti(files["nce"], info.nce_image)
    atomic_save_nifti(files["ce"], ce)
    atomic_save_nifti(files["mask"], mask)
    sidecar = {"pair": asdict(spec), "base_file": base_file.name} | info.sidecar()
    atomic_write_text(json.dumps(sidecar, indent=2, default=str) + "\n", files["sidecar"])
    return files


def _simulate_pair_job(args: tuple[PairSpec, Path, Path]) -> str:
    spec, base_file, pairs_dir = args
    simulate_pair(spec, base_file, pairs_dir)
    return spec.pair_id


def _write_tsv(path: Path, specs: list[PairSpec], pairs_dir: Path) -> None:
    lines = ["pair_id\tce\tnce\tmask\tsplit\tbase\tquality\tseed"]
    for spec in specs:
        files = _pair_files(pairs_dir, spec.pair_id)
        rel = {k: os.path.relpath(v, path.parent) for k, v in files.items()}
        lines.append(
            f"{spec.pair_id}\t{rel['ce']}\t{rel['nce']}\t{rel['mask']}\t{spec.split}\t"
            f"{spec.base}\t{spec.quality}\t{spec.seed}"
        )
    atomic_write_text("\n".join(lines) + "\n", path)


def build_training_set(
    work_dir: str | os.PathLike[str], plan: TrainingSetPlan | None = None, *, processes: int = 1
) -> dict[str, Path]:
    """Simulate every pair of ``plan`` under ``work_dir`` and write the pair tables.

    Parameters
    ----------
    work_dir
        Output folder (created); pairs already there are kept.
    plan
        Counts; :class:`TrainingSetPlan` defaults when None.
    processes
        Worker processes for the simulation (each pair takes about 7 s on one core at 1 mm).

    Returns
    -------
    dict
        ``{"pairs": ..., "test_good": ..., "test_low": ...}`` paths of the TSV files.
    """
    plan = plan or TrainingSetPlan()
    work = Path(work_dir).resolve()
    pairs_dir = work / "pairs"
    pairs_dir.mkdir(parents=True, exist_ok=True)
    specs = plan.pairs()
    base_files = {name: t1_linear_base(name, work / "bases") for name in {s.base for s in specs}}
    jobs = [(spec, base_files[spec.base], pairs_dir) for spec in specs]
    if processes > 1:
        with ProcessPoolExecutor(processes, mp_context=get_context("forkserver")) as pool:
            for done, pair_id in enumerate(pool.map(_simulate_pair_job, jobs), start=1):
                LOGGER.info("simulated %s (%d/%d)", pair_id, done, len(jobs))
    else:
        for done, job in enumerate(jobs, start=1):
            LOGGER.info("simulated %s (%d/%d)", _simulate_pair_job(job), done, len(jobs))
    tables = {
        "pairs": work / "pairs.tsv",
        "test_good": work / "test_good.tsv",
        "test_low": work / "test_low.tsv",
    }
    _write_tsv(
        tables["pairs"], [s for s in specs if s.split in ("train", "validation")], pairs_dir
    )
    _write_tsv(tables["test_good"], [s for s in specs if s.split == "test_good"], pairs_dir)
    _write_tsv(tables["test_low"], [s for s in specs if s.split == "test_low"], pairs_dir)
    return tables
