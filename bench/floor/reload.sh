#!/bin/sh
# The change floor: a hand edit of the config (rewritten from MEMBERS/BALANCE, see config.sh) and
#   master-worker  a reload of the running master (SIGUSR2: the master re-executes with the new file), or
#   classic        the neutron-lbaas restart: a new daemon with `-sf <old pids>` (the old one stops
#                  listening and finishes its connections; no socket transfer, no master).
# Same environment as provision.sh.
set -eu
. "$(dirname "$0")/config.sh"

write_cfg > "$DIR/haproxy.cfg.new"
mv "$DIR/haproxy.cfg.new" "$DIR/haproxy.cfg"
case "${1:-}" in
master-worker)
    kill -USR2 "$(head -n 1 "$DIR/haproxy.pid")"
    ;;
classic)
    ip netns exec "$NS" haproxy -D -f "$DIR/haproxy.cfg" -p "$DIR/haproxy.pid" -sf $(cat "$DIR/haproxy.pid")
    ;;
*)
    echo "usage: $0 master-worker|classic" >&2
    exit 2
    ;;
esac
