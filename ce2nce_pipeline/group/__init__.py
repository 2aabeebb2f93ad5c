"""Group level: homogenised feature table, the paper's validation statistics and figures."""

from .collect import ImageOutputs, SessionOutputs, collect_sessions, derivative_paths
from .features import FEATURE_COLUMNS, FEATURE_SIDECAR, feature_table
from .run import run_group
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
    "run_group",
    "validate",
]
