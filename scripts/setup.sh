#!/usr/bin/env bash
# Creates .venv and installs ddm-gateway into it (with test extras when given "test").
# Installs redis-server through apt when the tests need it and it is not on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
extras=""
if [ "${1:-}" = "test" ]; then extras="[test]"; fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet -e ".${extras}"
if [ "${1:-}" = "test" ] && ! command -v redis-server >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis-server is required for the tests; install it and retry" >&2
    exit 1
  fi
fi
# The Node.js SDK test peer (tests/node): node and npm from Debian when missing, then `npm ci`
# into tests/node/node_modules (gitignored), skipped when the lock file has not changed since.
if [ "${1:-}" = "test" ]; then
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
      SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
    else
      echo "node and npm are required for the Node.js SDK tests; install them and retry" >&2
      exit 1
    fi
  fi
  if ! cmp -s tests/node/package-lock.json tests/node/node_modules/.installed-lock.json; then
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
    cp tests/node/package-lock.json tests/node/node_modules/.installed-lock.json
  fi
fi
