#!/usr/bin/env bash
# A separate virtualenv with a real Keystone (PyPI `keystone`) and gunicorn, for the end-to-end identity
# tests (tests/e2e/test_keystone.py). Kept apart from .venv: Keystone's pins must not bend lbaas's.
# Usage: bash scripts/keystone-venv.sh [DIR]   (default: .venv-keystone beside this repository)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$root/.venv-keystone}"
if [ -x "$dir/bin/keystone-manage" ] && [ -x "$dir/bin/gunicorn" ]; then
  echo "$dir"
  exit 0
fi
python3 -m venv "$dir"
"$dir/bin/pip" install -q --upgrade pip >/dev/null
"$dir/bin/pip" install -q "keystone>=26" gunicorn >&2
echo "$dir"
