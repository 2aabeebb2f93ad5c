"""ce2nce as a Clinica 0.12 pipeline (``ce2nce-clinica run ce2nce BIDS_DIR CAPS_DIR``).

``caps`` (CAPS names and checks) and ``graph`` (the nipype graph written into a CAPS) need only
ce2nce's own dependencies; ``pipeline`` (the Clinica ``Pipeline``) and ``cli`` (the command)
import Clinica, installed by the ``clinica`` extra. Nothing outside this package imports them.
"""

from __future__ import annotations

import sys


def main() -> None:
    """``ce2nce-clinica``: Clinica's command line with ``ce2nce`` in its ``run`` group."""
    try:
        from clinica.cmdline import main as clinica_main

        from . import cli  # noqa: F401  (its decorator adds "ce2nce" to Clinica's run group)
    except ModuleNotFoundError as error:
        if error.name is None or not error.name.startswith("clinica"):
            raise
        sys.exit("ce2nce-clinica: Clinica is not installed; pip install 'ce2nce[clinica]'")
    clinica_main()
