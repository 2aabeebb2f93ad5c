"""The dataset-level files of the ce2nce derivatives dataset."""

from __future__ import annotations

import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from . import __version__
from .io import atomic_write_json, atomic_write_text

BIDS_VERSION = "1.10.0"
PAPER_DOI = "10.1186/s12880-024-01242-3"
#: What the BIDS validator must skip because BIDS has no name for it yet: run logs, group
#: tables, volume tables and ANTs transforms. Every image carries a BIDS name and is validated.
BIDSIGNORE = (
    "logs/",
    "group",  # the validator ignores "group/" but not "group"
    "*_affine.mat",
    "*_volumes.tsv",
    "*.html",  # the visual reports (sub-X.html, group.html)
    "figures",  # their figures, sub-X/figures/ (the validator wants no trailing slash here)
)


#: Libraries that shape a derivative's images, recorded with each run.
PIPELINE_PACKAGES: tuple[str, ...] = ("antspyx", "nipype", "nibabel", "nilearn", "pybids", "torch")


def software_versions(packages: tuple[str, ...] = PIPELINE_PACKAGES) -> dict[str, str]:
    """Versions of ce2nce and of ``packages`` (those installed), by distribution name."""
    versions = {"ce2nce": __version__}
    for package in packages:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def container_info() -> dict[str, str] | None:
    """The container ce2nce runs in, as BIDS ``GeneratedBy.Container``, if any."""
    image = os.environ.get("CE2NCE_CONTAINER_IMAGE")
    if image:
        return {"Type": os.environ.get("CE2NCE_CONTAINER_TYPE", "docker"), "Tag": image}
    return None


def write_dataset_description(output_dir: Path, bids_dir: Path) -> None:
    """Write (or refresh) ``dataset_description.json`` and ``.bidsignore``."""
    raw_uri = Path(bids_dir).absolute().as_uri()
    generated_by = {
        "Name": "ce2nce",
        "Version": __version__,
        "Description": "Clinica t1-linear, T1w-ce to T1w-nce translation (Bottani et al. 2024)",
    }
    container = container_info()
    if container:
        generated_by["Container"] = container
    source_name = ""
    source_description = Path(bids_dir) / "dataset_description.json"
    try:
        source_name = json.loads(source_description.read_text()).get("Name", "")
    except (OSError, ValueError):
        pass
    description = {
        "Name": f"ce2nce derivatives of {source_name}".strip().removesuffix(" of"),
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [generated_by],
        "SourceDatasets": [{"URL": raw_uri}],
        "DatasetLinks": {"raw": raw_uri},
        "HowToAcknowledge": f"Cite ce2nce, Clinica and Bottani et al. 2024 (doi:{PAPER_DOI}); "
        "see logs/CITATION.md",
    }
    atomic_write_json(description, Path(output_dir) / "dataset_description.json")
    atomic_write_text("\n".join(BIDSIGNORE) + "\n", Path(output_dir) / ".bidsignore")


REFERENCES = """\
[@ce2nce_paper]: Bottani S, Thibeau-Sutre E, Maire A, Ströer S, Dormont D, Colliot O, Burgos N.
  Contrast-enhanced to non-contrast-enhanced image translation to exploit a clinical data
  warehouse of T1-weighted brain MRI. BMC Medical Imaging 24, 67 (2024).
  doi:10.1186/s12880-024-01242-3
[@clinica]: Routier A, Burgos N, Díaz M, et al. Clinica: an open-source software platform for
  reproducible clinical neuroscience studies. Frontiers in Neuroinformatics 15 (2021).
  doi:10.3389/fninf.2021.689675
[@wen2020]: Wen J, Thibeau-Sutre E, Diaz-Melo M, et al. Convolutional neural networks for
  classification of Alzheimer's disease: overview and reproducible evaluation. Medical Image
  Analysis 63 (2020). doi:10.1016/j.media.2020.101694
[@n4]: Tustison NJ, Avants BB, Cook PA, et al. N4ITK: improved N3 bias correction. IEEE
  Transactions on Medical Imaging 29(6) (2010). doi:10.1109/TMI.2010.2046908
[@ants]: Avants BB, Tustison NJ, Stauffer M, et al. The Insight ToolKit image registration
  framework. Frontiers in Neuroinformatics 8 (2014). doi:10.3389/fninf.2014.00044
[@fonov2011]: Fonov V, Evans AC, Botteron K, et al. Unbiased average age-appropriate atlases for
  pediatric studies. NeuroImage 54(1) (2011). doi:10.1016/j.neuroimage.2010.07.033
[@atropos]: Avants BB, Tustison NJ, Wu J, Cook PA, Gee JC. An open source multivariate framework
  for n-tissue segmentation with evaluation on public data. Neuroinformatics 9(4) (2011).
  doi:10.1007/s12021-011-9109-y
[@ashburner2005]: Ashburner J, Friston KJ. Unified segmentation. NeuroImage 26(3) (2005).
  doi:10.1016/j.neuroimage.2005.02.018
[@isensee2019]: Isensee F, Schell M, Pflueger I, et al. Automated brain extraction of multisequence
  MRI using artificial neural networks. Human Brain Mapping 40(17) (2019). doi:10.1002/hbm.24750
[@fisch2024]: Fisch L, Zumdick S, Barkhau C, et al. deepbet: fast brain extraction of T1-weighted
  MRI using convolutional neural networks. Computers in Biology and Medicine 179 (2024).
  doi:10.1016/j.compbiomed.2024.108845
[@nipype]: Gorgolewski K, Burns CD, Madison C, et al. Nipype: a flexible, lightweight and
  extensible neuroimaging data processing framework in Python. Frontiers in Neuroinformatics 5
  (2011). doi:10.3389/fninf.2011.00013
"""


def citation_text(descriptions: list[str]) -> str:
    """CITATION.md: a methods paragraph built from the graph's descriptions, and references."""
    versions = software_versions()
    header = (
        f"Results included in this manuscript come from ce2nce {versions['ce2nce']}, an "
        "implementation of the method of Bottani et al. [@ce2nce_paper], built on Nipype "
        f"{versions.get('nipype', '')} [@nipype]."
    )
    body = "\n\n".join([header, *descriptions])
    return f"# Methods\n\n{body}\n\n# References\n\n{REFERENCES}"


def write_run_logs(output_dir: Path, config_toml: str, run_uuid: str, citation: str) -> None:
    """Store the run's settings (TOML) and CITATION.md under ``logs/``."""
    logs = Path(output_dir) / "logs"
    atomic_write_text(config_toml, logs / f"ce2nce_{run_uuid}_config.toml")
    atomic_write_text(citation, logs / "CITATION.md")
