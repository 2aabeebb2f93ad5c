"""ce2nce: contrast-enhanced to non-contrast-enhanced T1w translation as a BIDS app."""

__version__ = "0.1.0"
