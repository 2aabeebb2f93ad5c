"""Run the official BIDS validator (``bids-validator-deno``, offline) on a dataset."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


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
