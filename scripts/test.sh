#!/usr/bin/env bash
# Sets up everything the tests need on a fresh machine, then runs them. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
exec .venv/bin/python -m pytest -q "$@"
