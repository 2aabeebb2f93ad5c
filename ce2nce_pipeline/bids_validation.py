"""Run the official BIDS validator (``bids-validator-deno``, offline) on a dataset."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class ValidatorIssue:
    """One issue the validator reported."""

    code: str
    severity: str
    location: str
    message: str


def validator_executable() -> str | None:
    """``bids-validator-deno`` beside the running Python, else on ``PATH``."""
    beside = Path(sys.executable).parent / "bids-validator-deno"
    if beside.is_file():
        return str(beside)
    return shutil.which("bids-validator-deno")


def validate_dataset(path: Path, timeout: float = 600) -> list[ValidatorIssue]:
    """Validate ``path`` and return the issues of severity ``error``.

    Raises
    ------
    FileNotFoundError
        When the validator is not installed.
    RuntimeError
        When the validator crashes or prints no JSON.
    """
    executable = validator_executable()
    if executable is None:
        raise FileNotFoundError(
            "bids-validator-deno is not installed: pip install bids-validator-deno, "
            "or pass --skip-bids-validation"
        )
    completed = subprocess.run(
        [executable, "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    try:
        report = json.loads(completed.stdout)
    except ValueError:
        raise RuntimeError(
            f"bids-validator-deno failed on {path}: {completed.stderr.strip()[:300]}"
        ) from None
    issues = report.get("issues", {}).get("issues", [])
    return [
        ValidatorIssue(
            code=issue.get("code", ""),
            severity=issue.get("severity", ""),
            location=issue.get("location", ""),
            message=issue.get("issueMessage", "") or issue.get("subCode", ""),
        )
        for issue in issues
        if issue.get("severity") == "error"
    ]


def split_file_errors(
    errors: list[ValidatorIssue],
) -> tuple[list[ValidatorIssue], list[ValidatorIssue]]:
    """Split errors into those of one participant's file (``sub-*/...``) and the others.

    A file's error rejects that file only; any other error (no ``dataset_description.json``,
    a bad ``participants.tsv``, ...) concerns the whole dataset.
    """
    per_file, dataset = [], []
    for issue in errors:
        parts = PurePosixPath(issue.location.lstrip("/")).parts
        is_file = len(parts) >= 2 and parts[0].startswith("sub-") and ".." not in parts
        (per_file if is_file else dataset).append(issue)
    return per_file, dataset


def applies_to(location: str, image_path: str) -> bool:
    """True when the file at ``location`` is the image or a sidecar it inherits."""
    location, image = PurePosixPath(location.lstrip("/")), PurePosixPath(image_path)
    if location == image:
        return True
    if location.suffix != ".json" or location.parent not in (image.parent, *image.parents):
        return False
    image_parts = set(image.name.split(".")[0].split("_"))
    return set(location.name.removesuffix(".json").split("_")) <= image_parts


def rejected_by_validator(errors: list[ValidatorIssue], images: list) -> list[str]:
    """One line per file the validator rejected: the image or sidecar, its codes, the fix.

    Parameters
    ----------
    errors
        Errors tied to one file (:func:`split_file_errors`).
    images
        The T1w images found (``T1wImage``); an inherited sidecar names those it applies to.
    """
    codes: dict[str, list[str]] = {}
    for issue in errors:
        codes.setdefault(issue.location.lstrip("/"), []).append(issue.code)
    lines = []
    for location, location_codes in sorted(codes.items()):
        applies = [
            image.relative_path for image in images if applies_to(location, image.relative_path)
        ]
        affected = f" (so {', '.join(applies)} is not processed)" if applies else ""
        lines.append(
            f"{location}: the BIDS validator reports {', '.join(sorted(set(location_codes)))}"
            f"{affected}; fix or remove the file"
        )
    return lines
