#!/usr/bin/env bash
# The main job: install what is needed, start the all-in-one service on 127.0.0.1:9876,
# run the one-arm demo against it, then keep serving until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PATH="$PWD/.venv/bin:$PATH"
state=${LBAAS_STATE_DIR:-/var/lib/lbaas}
endpoint=http://127.0.0.1:9876
lbaas serve --state-dir "$state" --bind 127.0.0.1:9876 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
  curl -fsS "$endpoint/" >/dev/null 2>&1 && break
  sleep 0.1
done
lbaas demo --endpoint "$endpoint"
echo
echo "lbaas is serving the Octavia v2 API on $endpoint (state in $state). Ctrl-C stops it."
echo "Try: OS_AUTH_TYPE=none OS_ENDPOINT=$endpoint .venv/bin/openstack loadbalancer list"
wait "$pid"
