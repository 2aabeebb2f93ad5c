"""GM/WM/CSF segmentation of images in t1-linear space: ANTs Atropos and SPM12.

``ants`` (default, offline)
    Atropos (Avants et al. 2011) as ``antsAtroposN4.sh`` configures it for a prior-driven
    3-class segmentation: Gaussian likelihoods initialised by prior probability images, prior
    weight 0.25, posterior formulation ``Socrates[1]``, MRF smoothing 0.1 on a 1-voxel
    neighbourhood; 3 iterations (5 change the Dice of a synthetic test by < 0.01 and cost 40 %
    more time). The priors are the ICBM 2009a symmetric GM and WM probability maps shipped with
    nilearn, CSF = 1 - GM - WM, placed on the t1-linear grid by a whole-voxel shift: t1-linear
    images are already affinely in MNI152NLin2009cSym space. A quick SyN refinement of the
    priors to the image is available (``refine_priors``); on a synthetically deformed template it
    raises the GM Dice by about 0.01 for about 15 s more on 2 cores (``docs/segmentation.md``),
    so it is off by default. The image is not bias-corrected again: t1-linear ran N4 already.
``spm``
    SPM12 unified segmentation through nipype's ``NewSegment`` with Clinica's
    ``t1-volume-tissue-segmentation`` settings (see :func:`clinica_spm_tissues`). Needs SPM12
    standalone with the MATLAB Runtime, or MATLAB with SPM12 (:func:`find_spm`).

Both give GM, WM and CSF probability maps on the input grid; labels, volumes and TIV then come
from :mod:`ce2nce_pipeline.science.volumes` (maximum probability, TIV = GM + WM + CSF).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import nibabel as nib
import numpy as np
from numpy.typing import NDArray

from ..errors import BackendUnavailableError
from .brain_mask import check_t1_linear_grid, template_brain_mask
from .templates import tissue_priors
from .volumes import LABELS, TissueVolumes, max_probability_labels, tissue_volumes

logger = logging.getLogger(__name__)

#: Backends of the tissue segmentation stage: ``ants`` runs offline with the base install,
#: ``spm`` needs SPM12 and the MCR. The run's default is ``RunConfig.seg_backend``.
SegBackend = Literal["ants", "spm"]
SEG_BACKENDS: tuple[str, ...] = get_args(SegBackend)
#: Tissue order of the probability maps and of the labels (see ``volumes.LABELS``).
TISSUES: tuple[str, ...] = ("GM", "WM", "CSF")
#: Long names of the labels, for the BIDS ``dseg.tsv`` lookup table.
TISSUE_NAMES: dict[str, str] = {
    "GM": "Gray Matter",
    "WM": "White Matter",
    "CSF": "Cerebrospinal Fluid",
}


@dataclass(frozen=True)
class AtroposSettings:
    """Settings of the ``ants`` backend.

    Attributes
    ----------
    prior_weight
        Weight of the prior probability images in the posterior (0: initialisation only).
    mrf_smoothing
        Markov random field smoothing factor (neighbourhood radius 1 voxel).
    iterations
        Number of expectation-maximisation iterations (run in full: threshold 0).
    refine_priors
        Warp the template and its priors to the image with a quick SyN before Atropos.
    syn_iterations
        Iterations per level (shrink 4, 2, 1) of that SyN.
    """

    prior_weight: float = 0.25
    mrf_smoothing: float = 0.1
    iterations: int = 3
    refine_priors: bool = False
    syn_iterations: tuple[int, ...] = (20, 10, 0)

    def __post_init__(self) -> None:
        if not 0.0 <= self.prior_weight <= 1.0:
            raise ValueError(f"prior_weight must be in [0, 1], got {self.prior_weight}")
        if not 0.0 <= self.mrf_smoothing <= 1.0:
            raise ValueError(f"mrf_smoothing must be in [0, 1], got {self.mrf_smoothing}")
        if self.iterations < 1:
            raise ValueError(f"iterations must be at least 1, got {self.iterations}")


@dataclass(frozen=True)
class TissueMaps:
    """GM, WM and CSF probability maps of one image.

    Attributes
    ----------
    gm, wm, csf
        float32 probability maps in [0, 1], same shape.
    affine
        Their voxel-to-world affine.
    backend
        Which backend made them.
    """

    gm: NDArray[np.float32]
    wm: NDArray[np.float32]
    csf: NDArray[np.float32]
    affine: NDArray[np.float64]
    backend: str = "ants"
    details: dict[str, Any] = field(default_factory=dict)

    def labels(self) -> NDArray[np.uint8]:
        """Maximum-probability label map (0 background, 1 GM, 2 WM, 3 CSF)."""
        return max_probability_labels(self.gm, self.wm, self.csf)

    def volumes(self) -> TissueVolumes:
        """GM, WM, CSF volumes (cm³) of the maximum-probability labels, and their sum TIV."""
        return tissue_volumes(self.labels(), affine=self.affine)

    def images(self) -> dict[str, nib.Nifti1Image]:
        """``{"GM": img, "WM": img, "CSF": img, "dseg": img}`` on the maps' grid."""
        out = {
            name: _like(np.asarray(data, dtype=np.float32), self.affine)
            for name, data in zip(TISSUES, (self.gm, self.wm, self.csf), strict=True)
        }
        out["dseg"] = _like(self.labels(), self.affine)
        return out


def _like(data: NDArray[Any], affine: NDArray[np.float64]) -> nib.Nifti1Image:
    image = nib.Nifti1Image(data, affine)
    image.header.set_data_dtype(data.dtype)
    image.header.set_xyzt_units("mm")
    image.header.set_qform(affine, code=4)
    image.header.set_sform(affine, code=4)
    return image


def _atropos(arguments: list[str]) -> None:
    # ANTsPy exposes the Atropos executable as a library call; its Python wrapper writes its
    # own temporary files to /tmp and never removes them, so call it with our own paths.
    from ants.internal import get_lib_fn

    status = get_lib_fn("Atropos")(arguments)
    if status != 0:
        raise RuntimeError(f"Atropos failed with status {status} (arguments: {arguments})")


def _save(data: NDArray[Any], affine: NDArray[np.float64], path: Path) -> str:
    nib.save(_like(data, affine), path)
    return str(path)


def refine_priors_syn(
    image: NDArray[np.float32],
    mask: NDArray[np.bool_],
    priors: Sequence[NDArray[np.float32]],
    *,
    affine: NDArray[np.float64],
    iterations: Sequence[int] = (20, 10, 0),
    workdir: Path,
) -> list[NDArray[np.float32]]:
    """Warp the template priors to the image with a quick SyN (template -> masked image).

    Parameters
    ----------
    image, mask
        The image and its brain mask (the SyN sees the skull-stripped image, as the template is).
    priors
        Probability maps on the same grid, in template space.
    affine
        The grid's affine.
    iterations
        SyN iterations at shrink factors 4, 2, 1 (``len(iterations)`` levels).
    workdir
        Folder for the transforms.

    Returns
    -------
    list of numpy.ndarray
        The warped priors, float32, clipped to [0, 1].
    """
    import ants

    from .t1_linear import REGISTRATION_SEED, call_with_known_kwargs
    from .templates import CROP_SHAPE, template_on_grid

    if image.shape != CROP_SHAPE:
        raise ValueError(f"image of shape {image.shape} is not on the t1-linear grid")
    template = template_on_grid(CROP_SHAPE, affine)
    fixed = ants.image_read(_save(image * mask, affine, workdir / "fixed.nii"))
    moving = ants.image_read(_save(template, affine, workdir / "template.nii"))
    previous_seed = ants.config._random_seed
    ants.config._random_seed = REGISTRATION_SEED
    try:
        registration = call_with_known_kwargs(
            ants.registration,
            fixed=fixed,
            moving=moving,
            type_of_transform="SyNOnly",
            initial_transform="Identity",
            reg_iterations=tuple(iterations),
            outprefix=str(workdir / "syn_"),
        )
    finally:
        ants.config._random_seed = previous_seed
    warped = []
    for k, prior in enumerate(priors):
        moved = ants.apply_transforms(
            fixed=fixed,
            moving=ants.image_read(_save(prior, affine, workdir / f"prior_template{k}.nii")),
            transformlist=registration["fwdtransforms"],
            interpolator="linear",
        )
        warped.append(np.clip(moved.numpy(), 0.0, 1.0).astype(np.float32))
    return warped


def _brain(image: nib.Nifti1Image, mask: nib.Nifti1Image | None) -> NDArray[np.bool_]:
    """The brain to segment: ``mask`` (non-zero) or, without one, the template mask."""
    if mask is None:
        brain = template_brain_mask(image)
    else:
        check_t1_linear_grid(mask, "mask")
        brain = np.asarray(mask.dataobj) != 0
    if not brain.any():
        raise ValueError("the brain mask is empty: nothing to segment")
    return brain


def _run_atropos(
    data: NDArray[np.float32],
    brain: NDArray[np.bool_],
    priors: Sequence[NDArray[np.float32]],
    affine: NDArray[np.float64],
    settings: AtroposSettings,
    workdir: Path,
) -> list[NDArray[np.float32]]:
    """Atropos on the image, mask and priors written to ``workdir``; its three posteriors.

    Atropos sees the mask's bounding box grown by 2 voxels (its MRF reaches 1): the posteriors
    within the mask are the same to the bit, for less time spent outside it.
    """
    box = _bounding_box(brain, margin=2)
    origin = np.array([part.start for part in box], dtype=np.float64)
    box_affine = affine.copy()
    box_affine[:3, 3] = affine[:3, :3] @ origin + affine[:3, 3]
    # Uncompressed files: Atropos spends a third of its time in gzip otherwise.
    image_path = _save(np.ascontiguousarray(data[box]), box_affine, workdir / "image.nii")
    mask_path = _save(brain[box].astype(np.uint8), box_affine, workdir / "mask.nii")
    for k, prior in enumerate(priors, start=1):
        box_prior = np.asarray(prior[box], dtype=np.float32)
        _save(box_prior, box_affine, workdir / f"prior{k:02d}.nii")
    arguments = [
        "-d", "3",
        "-a", image_path,
        "-x", mask_path,
        "-i", f"PriorProbabilityImages[3,{workdir / 'prior%02d.nii'},{settings.prior_weight}]",
        "-k", "Gaussian",
        "-p", "Socrates[1]",
        "-m", f"[{settings.mrf_smoothing},1x1x1]",
        "-c", f"[{settings.iterations},0.0]",
        "-o", f"[{workdir / 'labels.nii'},{workdir / 'posterior%02d.nii'}]",
        # A constant seed: Atropos seeds its random number generator from the clock by
        # default, and two runs on the same image then differ by a few tenths of a cm3.
        "-r", "0",
    ]  # fmt: skip
    logger.info("Atropos: %s", " ".join(arguments))
    _atropos(arguments)
    posteriors = []
    for k in (1, 2, 3):
        posterior = np.zeros(data.shape, dtype=np.float32)
        posterior[box] = np.asarray(nib.load(workdir / f"posterior{k:02d}.nii").dataobj)
        posteriors.append(posterior)
    return posteriors


def _bounding_box(mask: NDArray[np.bool_], margin: int) -> tuple[slice, ...]:
    """The smallest box holding ``mask``, grown by ``margin`` voxels within the grid."""
    corners = np.argwhere(mask)
    low = np.maximum(corners.min(axis=0) - margin, 0)
    high = np.minimum(corners.max(axis=0) + 1 + margin, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))


def segment_ants(
    image: nib.Nifti1Image,
    mask: nib.Nifti1Image | None = None,
    settings: AtroposSettings = AtroposSettings(),
) -> TissueMaps:
    """GM/WM/CSF probability maps of a t1-linear image with Atropos and template priors.

    Parameters
    ----------
    image
        T1w image on the t1-linear grid (169x208x179 MNI152NLin2009cSym).
    mask
        Brain mask on the same grid (non-zero = brain). Default: the ``template`` mask
        (:func:`~.brain_mask.template_brain_mask`).
    settings
        Atropos settings.

    Returns
    -------
    TissueMaps
        Probability maps, zero outside the mask.

    Raises
    ------
    ValueError
        If the image or the mask is not on the t1-linear grid, or the mask is empty.
    RuntimeError
        If Atropos fails.
    """
    check_t1_linear_grid(image)
    data = np.asarray(image.dataobj, dtype=np.float32)
    brain = _brain(image, mask)
    affine = np.asarray(image.affine, dtype=np.float64)
    priors: Sequence[NDArray[np.float32]] = tissue_priors()
    with tempfile.TemporaryDirectory(prefix="ce2nce_atropos_") as folder:
        workdir = Path(folder)
        if settings.refine_priors:
            priors = refine_priors_syn(
                data,
                brain,
                priors,
                affine=affine,
                iterations=settings.syn_iterations,
                workdir=workdir,
            )
        posteriors = _run_atropos(data, brain, priors, affine, settings, workdir)
    gm, wm, csf = (np.clip(p, 0.0, 1.0) * brain for p in posteriors)
    return TissueMaps(
        gm=gm.astype(np.float32),
        wm=wm.astype(np.float32),
        csf=csf.astype(np.float32),
        affine=affine,
        backend="ants",
        details={"atropos": settings, "mask_from_template": mask is None},
    )


def tissue_maps_from_files(
    gm: str | os.PathLike[str],
    wm: str | os.PathLike[str],
    csf: str | os.PathLike[str],
    *,
    backend: str = "spm",
) -> TissueMaps:
    """Read three probability maps (e.g. SPM's ``c1``, ``c2``, ``c3``) into :class:`TissueMaps`.

    Raises
    ------
    ValueError
        If the three maps are not on one grid.
    """
    images = [nib.load(path) for path in (gm, wm, csf)]
    reference = images[0]
    for other in images[1:]:
        if other.shape != reference.shape or not np.allclose(other.affine, reference.affine):
            raise ValueError(f"tissue maps are on different grids: {gm}, {wm}, {csf}")
    arrays = [np.clip(img.get_fdata(dtype=np.float32), 0.0, 1.0) for img in images]
    return TissueMaps(*arrays, affine=np.asarray(reference.affine), backend=backend)


def volumes_tsv(volumes: TissueVolumes) -> str:
    """One-row TSV of the tissue volumes and TIV in cm³ (header + values)."""
    values = volumes.as_dict()
    header = "\t".join(f"{name}_cm3" for name in values)
    row = "\t".join(f"{value:.3f}" for value in values.values())
    return f"{header}\n{row}\n"


def dseg_tsv() -> str:
    """BIDS lookup table of the ``dseg`` labels (index, name, abbreviation)."""
    rows = [f"{code}\t{TISSUE_NAMES[name]}\t{name}" for name, code in LABELS.items()]
    return "index\tname\tabbreviation\n" + "\n".join(rows) + "\n"


# --------------------------------------------------------------------------------------------
# SPM12 unified segmentation, as Clinica's t1-volume-tissue-segmentation runs it
# --------------------------------------------------------------------------------------------

#: Number of Gaussians per class of Clinica's NewSegment (GM, WM, CSF, bone, soft tissue, air).
CLINICA_GAUSSIANS: tuple[int, ...] = (2, 2, 2, 3, 4, 2)
#: Classes Clinica writes in native space and as DARTEL input (``--tissue_classes 1 2 3``).
CLINICA_TISSUE_CLASSES: tuple[int, ...] = (1, 2, 3)
#: Deformation fields Clinica asks for (inverse, forward).
CLINICA_WRITE_DEFORMATION_FIELDS: tuple[bool, bool] = (True, True)

_SPM_MISSING = (
    "SPM12 not found: install SPM12 standalone with the MATLAB Runtime and set "
    "SPMMCRCMD='/path/to/run_spm12.sh /path/to/MCR script' and FORCE_SPMMCR=1 "
    "(or SPMSTANDALONE_HOME and MCR_HOME, or MATLAB with SPM_HOME), or use --seg-backend ants"
)


@dataclass(frozen=True)
class SpmInstallation:
    """How nipype reaches SPM12.

    Attributes
    ----------
    matlab_cmd
        Command nipype runs (``run_spm12.sh <MCR> script`` for the standalone, or ``matlab``).
    use_mcr
        Whether that is the compiled standalone (MATLAB Runtime).
    tpm
        SPM12's ``TPM.nii`` (6-class tissue probability maps).
    paths
        MATLAB paths to add (the SPM folder) when running MATLAB itself.
    """

    matlab_cmd: str
    use_mcr: bool
    tpm: Path
    paths: tuple[str, ...] = ()

    def apply_to(self, interface: Any) -> None:
        """Point a nipype SPM interface at this installation."""
        interface.inputs.matlab_cmd = self.matlab_cmd
        interface.inputs.use_mcr = self.use_mcr
        if self.paths:
            interface.inputs.paths = list(self.paths)
        interface.inputs.mfile = True


def _find_tpm(folder: Path) -> Path | None:
    direct = folder / "tpm" / "TPM.nii"
    if direct.is_file():
        return direct
    found = sorted(folder.glob("**/tpm/TPM.nii"))
    return found[0] if found else None


def find_spm(environ: dict[str, str] | None = None) -> SpmInstallation:
    """Find SPM12 the ways nipype and Clinica do, without starting it.

    Looked for in this order: ``SPMMCRCMD`` (nipype's standalone command, used when
    ``FORCE_SPMMCR`` is set or the command exists); ``SPMSTANDALONE_HOME`` + ``MCR_HOME``
    (Clinica's variables); ``matlab`` on the ``PATH`` with ``SPM_HOME`` pointing at SPM12. The
    TPM is ``SPM_TPM`` when set, else ``tpm/TPM.nii`` of the SPM folder found.

    Parameters
    ----------
    environ
        Environment to read (default ``os.environ``).

    Returns
    -------
    SpmInstallation

    Raises
    ------
    BackendUnavailableError
        One line saying what to install or set.
    """
    env = dict(os.environ if environ is None else environ)
    installation: SpmInstallation | None = None
    tpm_override = Path(env["SPM_TPM"]) if env.get("SPM_TPM") else None
    mcr_cmd = env.get("SPMMCRCMD", "").strip()
    if mcr_cmd:
        script = Path(mcr_cmd.split()[0])
        if script.is_file() or env.get("FORCE_SPMMCR"):
            tpm = tpm_override or _find_tpm(script.parent)
            if tpm is None:
                raise BackendUnavailableError(
                    f"SPM12 standalone found ({script}) but no tpm/TPM.nii under "
                    f"{script.parent}: set SPM_TPM to SPM12's TPM.nii"
                )
            installation = SpmInstallation(mcr_cmd, True, tpm)
    elif env.get("SPMSTANDALONE_HOME") and env.get("MCR_HOME"):
        home = Path(env["SPMSTANDALONE_HOME"])
        script = home / "run_spm12.sh"
        if not script.is_file() or not Path(env["MCR_HOME"]).is_dir():
            raise BackendUnavailableError(
                f"SPMSTANDALONE_HOME/MCR_HOME set but {script} or {env['MCR_HOME']} is "
                "missing: fix them, or unset them and use --seg-backend ants"
            )
        tpm = tpm_override or _find_tpm(home)
        if tpm is None:
            raise BackendUnavailableError(
                f"no tpm/TPM.nii under SPMSTANDALONE_HOME={home}: set SPM_TPM to SPM12's TPM.nii"
            )
        installation = SpmInstallation(f"{script} {env['MCR_HOME']} script", True, tpm)
    elif env.get("SPM_HOME") and shutil.which("matlab", path=env.get("PATH")):
        home = Path(env["SPM_HOME"])
        tpm = tpm_override or _find_tpm(home)
        if not (home / "spm.m").is_file() or tpm is None:
            raise BackendUnavailableError(
                f"SPM_HOME={home} is not an SPM12 folder (spm.m and tpm/TPM.nii expected)"
            )
        installation = SpmInstallation("matlab -nodesktop -nosplash", False, tpm, (str(home),))
    if installation is None:
        raise BackendUnavailableError(_SPM_MISSING)
    if not installation.tpm.is_file():
        raise BackendUnavailableError(f"SPM TPM {installation.tpm} does not exist: set SPM_TPM")
    return installation


def clinica_spm_tissues(
    tpm: str | os.PathLike[str],
) -> list[tuple[tuple[str, int], int, tuple[bool, bool], tuple[bool, bool]]]:
    """The ``tissues`` input of nipype's ``NewSegment`` as Clinica sets it.

    Clinica's ``t1-volume-tissue-segmentation`` (defaults ``--tissue_classes 1 2 3``,
    ``--dartel_tissues 1 2 3``, warped unmodulated maps saved, modulated not) uses SPM's six
    classes with 2, 2, 2, 3, 4, 2 Gaussians; GM, WM and CSF are written in native space and as
    DARTEL input, and normalised without modulation.

    Parameters
    ----------
    tpm
        SPM12's ``TPM.nii``.

    Returns
    -------
    list
        Six ``((tpm, class), n_gaussians, (native, dartel), (warped, modulated))`` tuples.
    """
    tissues = []
    for index, gaussians in enumerate(CLINICA_GAUSSIANS, start=1):
        kept = index in CLINICA_TISSUE_CLASSES
        tissues.append(((str(tpm), index), gaussians, (kept, kept), (kept, False)))
    return tissues
