"""Group level: homogenised feature table, the paper's validation statistics and figures.

The entry point that writes them is :func:`ce2nce_pipeline.group.run.run_group_level`.
"""

from .collect import ImageOutputs, SessionOutputs, collect_sessions, derivative_paths
from .features import FEATURE_COLUMNS, FEATURE_SIDECAR, feature_table
from .validation import ValidationOptions, ValidationResult, validate

__all__ = [
    "FEATURE_COLUMNS",
    "FEATURE_SIDECAR",
    "ImageOutputs",
    "SessionOutputs",
    "ValidationOptions",
    "ValidationResult",
    "collect_sessions",
    "derivative_paths",
    "feature_table",
    "validate",
]
