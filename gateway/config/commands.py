"""The logic behind `ddm-gateway config check FILE` and `ddm-gateway hash-password`.

The CLI module only parses arguments and calls these with its streams, so the commands are
testable without spawning processes. Exit codes follow CONTRACT.md (0 valid, 2 invalid).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, TextIO

from ..passwords import hash_password
from .loader import check_config_file

EXIT_OK = 0
EXIT_INVALID = 2


def run_config_check(path: str | Path, out: TextIO, err: TextIO, *,
                     environ: Mapping[str, str] | None = None) -> int:
    """Print one line per problem (path: message) on `out`; a summary on `err`."""
    problems = check_config_file(path, environ=os.environ if environ is None else environ)
    for problem in problems:
        out.write(problem + "\n")
    if problems:
        err.write(f"{path}: {len(problems)} problem{'s' if len(problems) != 1 else ''}\n")
        return EXIT_INVALID
    err.write(f"{path}: ok\n")
    return EXIT_OK


def run_hash_password(stdin: TextIO, out: TextIO, err: TextIO) -> int:
    """Read one password line from stdin (trailing newline dropped), print its password_hash."""
    password = stdin.readline().rstrip("\r\n")
    if not password:
        err.write("hash-password: empty password on stdin\n")
        return EXIT_INVALID
    out.write(hash_password(password) + "\n")
    return EXIT_OK
