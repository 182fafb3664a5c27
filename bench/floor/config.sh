# Sourced by provision.sh and reload.sh: writes the hand-made HAProxy config for the floor.
# Parameters (environment): VIP, DIR, MEMBERS ("ip:port:weight ..."), CHECK (1 = HTTP health check),
# TLS_CRTS (PEM files: a TLS frontend on 443, 444, …), LOG_TARGET and LOG_FORMAT (both set: the HTTP and TLS
# frontends log each request with that log-format to that syslog target, as ours do; LOG_FORMAT_TCP likewise for
# the TCP frontend), TCP_PORT (empty = no TCP listener; else a TCP listener there to the same members), BALANCE, CLASSIC
# (1 = the neutron-lbaas style daemon restarted with -sf; 0 = master-worker, reloaded through the master).
# The HTTP backend adds X-Forwarded-For: one-arm mode hides the client's address from the members, so a
# hand-written one-arm HTTP balancer must add it too to do the same work as ours (it costs a few % of
# keep-alive throughput; docs/benchmarks.md shows the figure).

write_cfg() {
    cat <<CFG
global
    maxconn 9000
    stats socket $DIR/stats.sock mode 600 level admin
CFG
    if [ -n "${LOG_TARGET:-}" ]; then
        printf '    log %s local0\n' "$LOG_TARGET"
    fi
    cat <<CFG
defaults
    retries 3
    option redispatch
    timeout connect 5s
    timeout client 50s
    timeout server 50s
frontend fe_http
    mode http
    bind $VIP:80
    default_backend be_http
CFG
    if [ -n "${LOG_TARGET:-}" ] && [ -n "${LOG_FORMAT:-}" ]; then
        printf '    log global\n    log-format %s\n' "$LOG_FORMAT"
    fi
    cat <<CFG
backend be_http
    mode http
    balance ${BALANCE:-roundrobin}
    option forwardfor
CFG
    if [ "${CHECK:-0}" = 1 ]; then
        printf '    option httpchk\n    http-check send meth GET uri /\n'
        chk=" check inter 2s fall 2 rise 2"
    else
        chk=""
    fi
    i=0
    for m in $MEMBERS; do
        i=$((i + 1))
        addr=${m%:*}
        weight=${m##*:}
        echo "    server m$i $addr weight $weight$chk"
    done
    # TLS_CRTS (space-separated PEM files): one TLS frontend each, on 443, 444, … to the same backend.
    port=443
    for crt in ${TLS_CRTS:-}; do
        printf 'frontend fe_https_%s\n    mode http\n    bind %s:%s ssl crt %s\n    default_backend be_http\n' \
            "$port" "$VIP" "$port" "$crt"
        if [ -n "${LOG_TARGET:-}" ] && [ -n "${LOG_FORMAT:-}" ]; then
            printf '    log global\n    log-format %s\n' "$LOG_FORMAT"
        fi
        port=$((port + 1))
    done
    if [ -n "${TCP_PORT:-}" ]; then
        printf 'frontend fe_tcp\n    mode tcp\n    bind %s:%s\n    default_backend be_tcp\n' "$VIP" "$TCP_PORT"
        if [ -n "${LOG_TARGET:-}" ] && [ -n "${LOG_FORMAT_TCP:-}" ]; then
            printf '    log global\n    log-format %s\n' "$LOG_FORMAT_TCP"
        fi
        printf 'backend be_tcp\n    mode tcp\n    balance %s\n' "${BALANCE:-roundrobin}"
        i=0
        for m in $MEMBERS; do
            i=$((i + 1))
            echo "    server m$i ${m%:*}"
        done
    fi
}
