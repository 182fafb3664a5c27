#!/bin/sh
# The provisioning floor: one load balancer built by hand with plain `ip` and `haproxy`, the same
# pieces the agent builds (namespace, veth into the network's bridge with a fixed MAC, VIP address,
# the LB sysctls, HAProxy master-worker as a daemon), with none of the API, database, checks or waits.
#
#   NS=bnfloor-x TAP=bnfx BRIDGE=brq... MAC=02:.. VIP=10.254.1.5 PLEN=24 DIR=/tmp/.. \
#   MEMBERS="10.254.1.11:80:1 10.254.1.12:80:1" CHECK=1 sh provision.sh up|down
#
# `up` returns once HAProxy has daemonized; the caller times until the VIP answers.
set -eu
. "$(dirname "$0")/config.sh"

case "${1:-}" in
up)
    mkdir -p "$DIR"
    ip netns add "$NS"
    ip link add "$TAP" type veth peer name vip netns "$NS"
    echo 1 > "/proc/sys/net/ipv6/conf/$TAP/disable_ipv6"
    ip link set "$TAP" master "$BRIDGE" up
    ip netns exec "$NS" sh -c '
        ip link set lo up
        ip link set vip address "$1"
        ip addr add "$2" dev vip
        ip link set vip up
        sysctl -q -w net.ipv4.ip_nonlocal_bind=1 net.ipv4.tcp_tw_reuse=1 net.core.somaxconn=65535 \
            "net.ipv4.ip_local_port_range=1024 65000"' sh "$MAC" "$VIP/$PLEN"
    write_cfg > "$DIR/haproxy.cfg"
    if [ "${CLASSIC:-0}" = 1 ]; then
        ip netns exec "$NS" haproxy -D -f "$DIR/haproxy.cfg" -p "$DIR/haproxy.pid"
    else
        ip netns exec "$NS" haproxy -W -D -S "$DIR/master.sock,mode,600" -f "$DIR/haproxy.cfg" -p "$DIR/haproxy.pid"
    fi
    ;;
down)
    if [ -f "$DIR/haproxy.pid" ]; then
        for pid in $(cat "$DIR/haproxy.pid"); do kill "$pid" 2>/dev/null || true; done
    fi
    # whatever still lives in the namespace (old -sf generations, workers): by pid
    if [ -e "/run/netns/$NS" ]; then
        for pid in $(ip netns pids "$NS"); do kill "$pid" 2>/dev/null || true; done
        sleep 0.2
        for pid in $(ip netns pids "$NS"); do kill -9 "$pid" 2>/dev/null || true; done
        ip netns del "$NS"
    fi
    ip link del "$TAP" 2>/dev/null || true
    ;;
*)
    echo "usage: $0 up|down (parameters in the environment)" >&2
    exit 2
    ;;
esac
