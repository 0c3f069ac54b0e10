#!/usr/bin/env bash
# Sets up everything the tests need on a fresh machine, then runs them: ruff and mypy first (their
# scope is in pyproject.toml), then pytest. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
.venv/bin/python -m ruff check --quiet .
.venv/bin/python -m mypy
exec .venv/bin/python -m pytest -q "$@"
