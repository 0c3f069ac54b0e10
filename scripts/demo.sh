#!/usr/bin/env bash
# Sets up ddm-gateway on a fresh machine and runs the built-in demo (embedded simulator upstream,
# in-process store, demo account) on 127.0.0.1:8080 (admin on 8081).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/ddm-gateway serve "$@"
