"""The server-state file handed to a reloading HAProxy, with admin state taken from the new config.

Before a reload the agent dumps ``show servers state`` into the file that the new process reads with
``load-server-state-from-file``, so that health (operational state, check counters, weights set at
runtime) survives the reload. HAProxy 2.6 also restores the *admin* state from that file
(``srv_state_srv_update`` in src/server_state.c): when the config-maintenance bit (CMAINT, set by the
``disabled`` keyword) is the same in the file and in the new config, a forced-maintenance bit (FMAINT,
set by ``set server … state maint`` or by ``add server``, which creates a server in maintenance) in the
file puts the server back in maintenance, whatever the new config says. A member created admin-down
(added at runtime, never enabled) and later set admin-up in a change that needs a reload therefore
stayed in maintenance.

In lbaas the admin state of a server is exactly what the config says (``disabled`` or not): the agent
never leaves a runtime-only admin change behind a reload. So for every server of the new config, the
saved line's admin bits are rewritten to what that config means: ``disabled`` → CMAINT|FMAINT (what
HAProxy itself sets when it parses ``disabled``), otherwise neither. A server that was in maintenance
and is enabled now loses its line altogether: its saved operational state is "stopped" (because of the
maintenance), and a server without health checks restored as stopped stays DOWN for ever. Then HAProxy's rules keep the
server exactly as configured, and everything else in the line (health, weights) is restored as before.
Lines of servers the new config does not have are left alone (HAProxy ignores them).

Pure: text in, text out.
"""

from __future__ import annotations

from lbaas.agent.haproxy.runtime_plan import _Unparsable, parse_layout

SRV_ADMF_FMAINT = 0x01  # forced maintenance (runtime API, or a dynamic server not yet enabled)
SRV_ADMF_CMAINT = 0x04  # configured maintenance (the ``disabled`` keyword)
_CONFIG_OWNED = SRV_ADMF_FMAINT | SRV_ADMF_CMAINT


def config_admin_state(config_text: str) -> dict[tuple[str, str], bool] | None:
    """(backend, server) → True when the config enables the server, False when it says ``disabled``.
    None when the config's server lines cannot be read (then no state is worth keeping)."""
    try:
        layout = parse_layout(config_text)
    except _Unparsable:
        return None
    return {
        (backend, name): not server.has("disabled")
        for backend, servers in layout.servers.items()
        for name, server in servers.items()
    }


def align_admin_state(state_text: str, config_text: str) -> str:
    """``state_text`` (a ``show servers state`` dump, version 1) with each server's admin-state bits
    set from ``config_text``. Returns "" (no state at all) when either cannot be read: losing health
    state on one reload is harmless; restoring a wrong admin state is not."""
    enabled = config_admin_state(config_text)
    lines = state_text.splitlines()
    if enabled is None or not lines or lines[0].strip() != "1":
        return ""
    out = [lines[0]]
    header: list[str] | None = None
    for line in lines[1:]:
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            header = stripped.lstrip("#").split()
            out.append(line)
            continue
        if header is None:
            return ""
        fields = stripped.split()
        try:
            be = fields[header.index("be_name")]
            srv = fields[header.index("srv_name")]
            i_admin = header.index("srv_admin_state")
            admin = int(fields[i_admin])
        except (ValueError, IndexError):
            return ""
        want = enabled.get((be, srv))
        if want is not None:
            if want and admin & _CONFIG_OWNED:
                # In maintenance before, enabled now: its saved operational state (stopped, because it
                # was in maintenance) is stale, and a server without checks would keep it for ever
                # (DOWN, no check to bring it up). Leave it out: HAProxy starts it as the config says,
                # like a new server (UP; a health check then measures it).
                continue
            admin = (admin & ~_CONFIG_OWNED) | (0 if want else _CONFIG_OWNED)
            fields[i_admin] = str(admin)
            line = " ".join(fields)
        out.append(line)
    return "\n".join(out) + "\n"


__all__ = ["SRV_ADMF_CMAINT", "SRV_ADMF_FMAINT", "align_admin_state", "config_admin_state"]
