"""ce2nce: contrast-enhanced to non-contrast-enhanced T1w translation as a BIDS app."""

import os as _os

__version__ = "0.1.0"

# ce2nce runs offline: stop nipype from asking the network for its latest version.
_os.environ.setdefault("NIPYPE_NO_ET", "1")
