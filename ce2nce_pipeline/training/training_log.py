"""A training run's ``log.tsv`` (one row per epoch) and its progress display.

The log starts with an ``initial`` row (the validation L1 before any step), then holds one row
per epoch of each phase; a value that does not apply to a row's phase is left empty. On a
resume the rows written after the resume point are dropped, so that a resumed run's log is the
uninterrupted run's log.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path
from typing import Any

__all__ = [
    "LOG_COLUMNS",
    "LOG_FILE",
    "Progress",
    "append_log",
    "read_log",
    "start_log",
    "trim_log",
]

LOGGER = logging.getLogger(__name__)

LOG_FILE = "log.tsv"

#: Columns of ``log.tsv``; a value that does not apply to a row's phase is left empty.
LOG_COLUMNS: tuple[str, ...] = (
    "phase",
    "epoch",
    "steps",
    "train_loss",
    "train_l1",
    "train_adversarial",
    "train_discriminator",
    "val_loss",
    "val_mae_percent",
    "val_psnr_db",
    "val_ssim",
    "is_best",
    "seconds",
)


def read_log(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Rows of a ``log.tsv`` as dictionaries of strings (empty string: not applicable)."""
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream, delimiter="\t"))


def start_log(out: Path) -> None:
    """Write a ``log.tsv`` holding only the header into the run folder ``out``."""
    with open(out / LOG_FILE, "w", newline="", encoding="utf-8") as stream:
        csv.writer(stream, delimiter="\t", lineterminator="\n").writerow(LOG_COLUMNS)


def _text(value: Any) -> str:
    """A log value as written: empty for ``None``, 6 significant digits for floats."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def append_log(out: Path, row: dict[str, Any]) -> None:
    """Append ``row`` (column name -> value; missing columns left empty) to ``out/log.tsv``."""
    with open(out / LOG_FILE, "a", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, delimiter="\t", lineterminator="\n")
        writer.writerow([_text(row.get(column)) for column in LOG_COLUMNS])


def trim_log(out: Path, completed: dict[str, int]) -> None:
    """Drop log rows of epochs the resume point does not contain (written after it).

    Parameters
    ----------
    out : pathlib.Path
        The run folder.
    completed : dict
        Phase -> epochs completed at the resume point.
    """
    path = out / LOG_FILE
    rows = read_log(path) if path.is_file() else []
    kept = [
        row
        for row in rows
        if row["phase"] == "initial" or int(row["epoch"]) <= completed.get(row["phase"], 0)
    ]
    start_log(out)
    for row in kept:
        append_log(out, row)


def log_epoch(phase: str, epoch: int, row: dict[str, Any]) -> None:
    """Log the one-line summary of a finished epoch."""
    LOGGER.info(
        "%s epoch %d: train %.5f%s (%.1f s)",
        phase,
        epoch,
        row["train_loss"],
        f", validation L1 {row['val_loss']:.5f}" if "val_loss" in row else "",
        row["seconds"],
    )


class Progress:
    """tqdm when installed, else a logging line every tenth of the epoch (and at its end)."""

    def __init__(self, total: int, done: int, description: str, enabled: bool) -> None:
        self.total, self.done, self.description = total, done, description
        self.every = max(1, total // 10)
        self.bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, initial=done, desc=description, leave=False)
        self.enabled = enabled

    def update(self, losses: dict[str, float]) -> None:
        """Count one step and show its ``losses``."""
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in losses.items()}, refresh=False)
        elif self.enabled and (self.done % self.every == 0 or self.done == self.total):
            shown = ", ".join(f"{k} {v:.4f}" for k, v in losses.items())
            LOGGER.info("%s: step %d/%d, %s", self.description, self.done, self.total, shown)

    def close(self) -> None:
        """Remove the progress bar, if any."""
        if self.bar is not None:
            self.bar.close()
