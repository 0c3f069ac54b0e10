"""Where the tests find what they read: inside this repository, or next to the interpreter.

Nothing here names a folder of any machine: a clone in any directory, with nothing beside it,
finds the same files.
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = REPO_ROOT / "examples" / "gateway.yaml"
DATA_DIR = Path(__file__).resolve().parent / "data"
REFERENCE_ROUTES = DATA_DIR / "ddm-reference-routes.yaml"
REFERENCE_ERROR_CODES = DATA_DIR / "ddm-reference-error-codes.yaml"


def console_script(name: str = "ddm-gateway") -> str:
    """The installed console script of the running interpreter's environment."""
    return str(Path(sys.executable).parent / name)
