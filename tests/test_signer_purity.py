"""The signer is a pure core: importing it must not pull in aiohttp, asyncio or redis."""
from __future__ import annotations

import subprocess
import sys


def test_signer_imports_no_io_frameworks() -> None:
    code = ("import sys, signer; bad = [m for m in ('aiohttp', 'asyncio', 'redis') if m in sys.modules];"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
