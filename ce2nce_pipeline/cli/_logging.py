"""The one logging set-up of the command lines: ce2nce's messages on stderr, libraries quieter."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

#: Time, level and message: the format of the long-running commands.
TIMED_FORMAT = "%(asctime)s %(levelname)s: %(message)s"


def configure_logging(
    level: int,
    *,
    fmt: str = TIMED_FORMAT,
    libraries: int = logging.WARNING,
    loggers: Mapping[str, int] | None = None,
) -> None:
    """Send log records to stderr: ce2nce's at ``level``, other libraries' at ``libraries``.

    Parameters
    ----------
    level : int
        Level of the ``ce2nce`` and ``ce2nce_pipeline`` loggers.
    fmt : str
        Format of each line.
    libraries : int
        Level of every other logger (the root logger).
    loggers : mapping of str to int, optional
        Levels of particular loggers, set last (e.g. a chatty module quieter).
    """
    logging.basicConfig(level=libraries, format=fmt)
    for name in ("ce2nce", "ce2nce_pipeline"):
        logging.getLogger(name).setLevel(level)
    for name, logger_level in (loggers or {}).items():
        logging.getLogger(name).setLevel(logger_level)


def flag_level(verbose: bool = False, quiet: bool = False) -> int:
    """The level of ``-v`` (DEBUG), ``-q`` (WARNING) or neither (INFO: progress lines)."""
    return logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO


def configure_training_logging(verbose: bool = False, quiet: bool = False) -> None:
    """Log ce2nce's messages to stderr: INFO by default (progress lines), DEBUG or WARNING.

    The set-up of ``ce2nce-train`` and ``ce2nce-evaluate``.
    """
    level = flag_level(verbose, quiet)
    # Checkpoints are saved every epoch: their INFO lines only with --verbose.
    checkpoint_level = logging.DEBUG if verbose else max(level, logging.WARNING)
    configure_logging(level, loggers={"ce2nce_pipeline.models.checkpoint": checkpoint_level})


def configure_nipype_logging(verbosity: int) -> None:
    """nipype's workflow and interface logs: INFO from ``-v`` on, else WARNING.

    Worker processes (forkserver) read nipype's configuration afresh from
    ``NIPYPE_CONFIG_DIR``: they are given one with the chosen level, or they log every node at
    INFO. The folder is removed when the command exits; one left by a killed command is removed
    by the next (``ce2nce_pipeline.scratch``).
    """
    from ..scratch import process_folder, remove_stale_folders

    nipype_level = "INFO" if verbosity >= 1 else "WARNING"
    remove_stale_folders()
    config_dir = process_folder("ce2nce_nipype_")
    (config_dir / "nipype.cfg").write_text(
        f"[logging]\nworkflow_level = {nipype_level}\ninterface_level = {nipype_level}\n"
        f"utils_level = {nipype_level}\n"
    )
    os.environ["NIPYPE_CONFIG_DIR"] = str(config_dir)
    from nipype import config as nipype_config
    from nipype import logging as nipype_logging

    nipype_config.update_config(
        {"logging": {"workflow_level": nipype_level, "interface_level": nipype_level}}
    )
    nipype_logging.update_logging(nipype_config)
