#!/usr/bin/env bash
# The whole test suite: static checks, then unit, contract, client, integration and e2e tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check .
echo "== mypy"; mypy
echo "== import-linter"; lint-imports
echo "== pytest"
exec python -m pytest -p no:cacheprovider "$@"
