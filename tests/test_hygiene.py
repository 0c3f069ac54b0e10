"""A clone in any folder must pass: no tracked file names a folder of the machine it was made on.

Tests read only what the repository holds (tests/paths.py); the reference material the team
keeps beside the repository is for people, so no tracked file may reach for it either.
bench/RESULTS.md is exempt: it records where past measurements were taken.
"""
from __future__ import annotations

import re
import subprocess

from .paths import REPO_ROOT

EXEMPT = {"bench/RESULTS.md"}
MACHINE_FOLDER = re.compile(
    r"(?<![\w.~-])/(?:work|home|root|Users|mnt)/[\w.-]"   # a machine's own folders
    r"|\.\./shared\b"                                     # the team's folder beside the clone
    r"|/site" r"-packages/"                               # an installed package by its path
    r"|[A-Za-z]:\\\\Users\\\\")


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True,
                             check=True, timeout=30).stdout
    except (OSError, subprocess.CalledProcessError):   # an export without .git: every file
        return [str(p.relative_to(REPO_ROOT)) for p in REPO_ROOT.rglob("*")
                if p.is_file() and ".venv" not in p.parts and ".git" not in p.parts]
    return [name for name in out.decode().split("\0") if name]


def offending_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if MACHINE_FOLDER.search(line)]


def test_the_pattern_catches_what_it_is_for() -> None:
    # Assembled from pieces, so that this file itself names no such folder.
    for parts in [('EXAMPLE = Path("/', 'work/shared/spec/gateway.example.yaml")'), ('"/', 'home/dev/venv/bin/x"'),
                  ("see ..", "/shared/seed/ref.txt"), ("/opt/venv/lib/python3.11/site", "-packages/x.py"),
                  ('open("/', 'root/.cache/x")'), ("C:", "\\\\Users\\\\dev")]:
        bad = "".join(parts)
        assert offending_lines(bad), bad
    folder = "/" + "work/"   # the same pieces: a URL path or a relative path is no machine folder
    for fine in ["https://example.com" + folder + "x", "state_dir: ./.ddm-gateway", "/etc/ddm-gateway/key.pem",
                 "GET /v1/{project_id}/instances", "tests/data/x.yaml", "a" + folder + "b"]:
        assert not offending_lines(fine), fine


def test_no_tracked_file_names_a_machine_folder() -> None:
    found = {}
    for name in tracked_files():
        if name in EXEMPT:
            continue
        path = REPO_ROOT / name
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        if lines := offending_lines(text):
            found[name] = lines[:3]
    assert found == {}
