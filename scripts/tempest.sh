#!/usr/bin/env bash
# Octavia's API conformance suite (octavia-tempest-plugin's tests.api.v2) against lbaas in keystone mode with
# a real Keystone, dynamic credentials and RBAC tests on. Needs root (the real data plane) and .venv
# (scripts/install.sh). Makes .venv-tempest (tempest, octavia-tempest-plugin, barbican-tempest-plugin from PyPI)
# and .venv-keystone.
# Usage: bash scripts/tempest.sh [--work DIR] [--regex RE] [--concurrency N]
# Results: <work>/summary.txt (counts, every failure and skip with its reason), <work>/tempest/tempest.subunit.
# docs/tempest.md has the last run's figures and the cause of each failure and skip group.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
TEMPEST_VERSION="${TEMPEST_VERSION:-47.0.0}"
PLUGIN_VERSION="${OCTAVIA_TEMPEST_PLUGIN_VERSION:-3.5.0}"
BARBICAN_PLUGIN_VERSION="${BARBICAN_TEMPEST_PLUGIN_VERSION:-4.6.0}"  # [service_available] barbican: the TLS listener tests
venv="$root/.venv-tempest"
if ! "$venv/bin/python" -c "import tempest, octavia_tempest_plugin, barbican_tempest_plugin" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >/dev/null
  "$venv/bin/pip" install -q "tempest==$TEMPEST_VERSION" "octavia-tempest-plugin==$PLUGIN_VERSION" \
    "barbican-tempest-plugin==$BARBICAN_PLUGIN_VERSION" >&2
fi
bash "$root/scripts/keystone-venv.sh" >/dev/null
exec "$root/.venv/bin/python" "$root/scripts/tempest.py" --venv "$venv" "$@"
