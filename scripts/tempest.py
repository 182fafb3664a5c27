"""Octavia's own API conformance suite against lbaas: octavia-tempest-plugin's
``octavia_tempest_plugin.tests.api.v2`` in keystone mode, with a real Keystone, dynamic credentials and
the RBAC tests on (``keystone_default_roles``). Run through ``scripts/tempest.sh`` (it makes the venvs).

What it does, all on loopback (ports 35000-35999, files under one work directory /tmp/lbid-tempest-*):

1. starts a real Keystone (PyPI ``keystone`` in ``.venv-keystone``: SQLite, fernet, gunicorn;
   tests/e2e/keystone.py) and makes the ``service`` project, lbaas's service user and the Octavia roles;
2. registers lbaas in the catalog as ``load-balancer``, ``network`` (its Neutron subset) and
   ``key-manager`` (its Barbican subset);
3. starts ``lbaas serve --auth-strategy keystone --provider haproxy`` (the real data plane: HAProxy in
   ``qlbaas-<lb_id>`` namespaces; run as root);
4. writes tempest.conf (dynamic credentials, ``RBAC_test_type = keystone_default_roles``, provider and
   capability descriptions read from the running lbaas, feature flags) and runs
   ``tempest run --regex '^octavia_tempest_plugin.tests.api.v2'``;
5. leaves ``tempest.subunit``, ``summary.txt`` (counts, failed and skipped tests with their reasons) and
   the logs in the work directory; deletes what is left in lbaas, then stops lbaas and Keystone by pid.

Usage: python scripts/tempest.py [--work DIR] [--regex RE] [--concurrency N] [--summarize]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lbaas.tools import procs  # noqa: E402
from tests.e2e.keystone import ADMIN_PASSWORD, Keystone, password_token, running_keystone  # noqa: E402

PORTS = range(35000, 36000)
SERVICE_PASSWORD = "lbaas-tempest-service"
REGEX = r"^octavia_tempest_plugin.tests.api.v2"
ROLES = ("load-balancer_observer", "load-balancer_global_observer", "load-balancer_member",
         "load-balancer_quota_admin", "load-balancer_admin", "service")  # fmt: skip


@contextlib.contextmanager
def running_lbaas(work: Path, port: int, ks: Keystone) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "LBAAS_"))}
    env.update(LBAAS_KEYSTONE_AUTH_URL=ks.url, LBAAS_KEYSTONE_WWW_AUTHENTICATE_URI=ks.url,
               LBAAS_KEYSTONE_USERNAME="lbaas", LBAAS_KEYSTONE_PASSWORD=SERVICE_PASSWORD,
               LBAAS_KEYSTONE_PROJECT_NAME="service", LBAAS_AVAILABILITY_ZONE="az1")  # fmt: skip
    state = work / "lbaas-state"
    cmd = [str(REPO / ".venv" / "bin" / "lbaas"), "serve", "--bind", f"127.0.0.1:{port}", "--state-dir", str(state),
           "--auth-strategy", "keystone", "--provider", "haproxy", "--log-level", "warning"]  # fmt: skip
    with procs.running(cmd, work / "lbaas.log", procs.http_ok(url + "/"), what=f"lbaas on {url}", timeout=60,
                       stop_timeout=30, env=env, interval=0.2) as proc:  # fmt: skip
        print(f"lbaas serve pid {proc.pid} on {url}", flush=True)
        yield url


def sweep(url: str, token: str) -> None:
    """Delete what tempest left behind (load balancers, then networks), so no namespace or bridge stays."""
    h = {"X-Auth-Token": token}
    with httpx.Client(base_url=url, headers=h, timeout=60) as c:
        lbs = c.get("/v2/lbaas/loadbalancers").json().get("loadbalancers", [])
        for lb in lbs:
            c.delete(f"/v2/lbaas/loadbalancers/{lb['id']}", params={"cascade": "true"})
        deadline = time.monotonic() + 300
        while lbs and time.monotonic() < deadline:
            lbs = c.get("/v2/lbaas/loadbalancers").json().get("loadbalancers", [])
            time.sleep(1)
        for kind in ("ports", "subnets", "networks"):
            for obj in c.get(f"/v2.0/{kind}").json().get(kind, []):
                c.delete(f"/v2.0/{kind}/{obj['id']}")
        print(f"sweep: {len(lbs)} load balancers left", flush=True)


def _dict_opt(items: dict[str, str]) -> str:
    """oslo.config DictOpt text: commas cannot be quoted, so a description holding one cannot be written."""
    bad = [k for k, v in items.items() if "," in v or "," in k]
    if bad:
        print(f"warning: {bad} have commas in their description; tempest.conf cannot express them", flush=True)
    return ",".join(f"{k}:{v}" for k, v in items.items() if k not in bad)


def tempest_conf(ks: Keystone, lbaas_url: str, work: Path, barbican: bool = False) -> str:
    token = ks.admin_token()
    h = {"X-Auth-Token": token}
    providers = httpx.get(lbaas_url + "/v2/lbaas/providers", headers=h, timeout=30).json()["providers"]
    flavor_caps = httpx.get(lbaas_url + "/v2/lbaas/providers/amphora/flavor_capabilities", headers=h, timeout=30).json()
    az_caps = httpx.get(lbaas_url + "/v2/lbaas/providers/amphora/availability_zone_capabilities", headers=h, timeout=30).json()
    flavor_cap = {c["name"]: c["description"] for c in flavor_caps["flavor_capabilities"][:1]}
    az_cap = {c["name"]: c["description"] for c in az_caps["availability_zone_capabilities"][:1]}
    return f"""[DEFAULT]
log_file = {work / "tempest.log"}
use_stderr = false
debug = false

[auth]
use_dynamic_credentials = true
create_isolated_networks = false
admin_username = admin
admin_password = {ADMIN_PASSWORD}
admin_project_name = admin
admin_domain_name = Default

[identity]
uri_v3 = {ks.url}
auth_version = v3
region = RegionOne
v3_endpoint_type = public

[identity-feature-enabled]
api_v2 = false
api_v3 = true

[service_available]
# the plugin's skip_checks wants compute and image even for the API tests, which never call them
load_balancer = true
neutron = true
nova = true
glance = true
cinder = false
swift = false
# registered by barbican-tempest-plugin: the TERMINATED_HTTPS listener tests store their certificates
# through lbaas's Barbican subset (key-manager in the catalog)
barbican = {str(barbican).lower()}

[network-feature-enabled]
# lbaas's Neutron subset has no security groups: a network's port security is always on (a port's may be off)
port_security = false
ipv6 = true

[network]
project_networks_reachable = true

[validation]
run_validation = false

[load_balancer]
region = RegionOne
catalog_type = load-balancer
endpoint_type = publicURL
provider = amphora
RBAC_test_type = keystone_default_roles
enabled_provider_drivers = {_dict_opt({p["name"]: p["description"] for p in providers})}
expected_flavor_capability = {_dict_opt(flavor_cap)}
expected_availability_zone_capability = {_dict_opt(az_cap)}
test_with_noop = false
# the embedded agent's compute zone (LBAAS_AVAILABILITY_ZONE) and two more for the AZ profile tests
availability_zone = az1
availability_zone2 = az2
availability_zone3 = az3
test_with_ipv6 = true
loadbalancer_topology = SINGLE
build_interval = 1
build_timeout = 300
check_interval = 1
check_timeout = 120
lb_build_interval = 1
lb_build_timeout = 300
enforce_new_defaults = false
# a devstack subnet pool; lbaas's Neutron subset has no subnet pools, the plugin then uses its own CIDR
default_ipv6_subnetpool =

[loadbalancer-feature-enabled]
not_implemented_is_error = false
health_monitor_enabled = true
terminated_tls_enabled = true
l7_protocol_enabled = true
pool_algorithms_enabled = true
l4_protocol = TCP
session_persistence_enabled = true
log_offload_enabled = false
prometheus_listener_enabled = true
spare_pool_enabled = false

[enforce_scope]
octavia = false
"""


def setup_keystone(ks: Keystone, lbaas_url: str) -> None:
    service = ks.project("service")
    ks.user("lbaas", SERVICE_PASSWORD, service, "admin", "service")
    for role in ROLES:
        ks.role_id(role)
    ks.service("load-balancer", "octavia", lbaas_url)
    ks.service("network", "neutron", lbaas_url)
    ks.service("key-manager", "barbican", lbaas_url + "/v1")  # versioned: the root answers Octavia's discovery


def summarize(tempest_dir: Path, venv: Path, out: Path) -> str:
    """Counts and, per failed or skipped test, its reason, from the subunit stream."""
    subunit = tempest_dir / "tempest.subunit"
    script = r"""
import sys, json, subunit, testtools
from testtools import StreamToDict
results = []
def on(test):
    det = {k: v.as_text() for k, v in (test.get('details') or {}).items() if k in ('reason', 'traceback')}
    results.append({'id': test['id'], 'status': test['status'], **det})
case = subunit.ByteStreamToStreamResult(sys.stdin.buffer, non_subunit_name='stdout')
res = StreamToDict(on)
res.startTestRun(); case.run(res); res.stopTestRun()
json.dump(results, sys.stdout)
"""
    r = subprocess.run([str(venv / "bin" / "python"), "-c", script], stdin=subunit.open("rb"), capture_output=True,
                       text=True, check=False)  # fmt: skip
    if r.returncode != 0:
        return f"could not read {subunit}: {r.stderr[-2000:]}"
    # "exists" is the enumeration before the run; class fixtures count only when they fail or skip
    results = [t for t in json.loads(r.stdout) if t["status"] != "exists"
               and (not t["id"].startswith(("setUpClass", "tearDownClass")) or t["status"] != "success")]  # fmt: skip
    (out.parent / "results.json").write_text(json.dumps(results, indent=1))
    counts = Counter(t["status"] for t in results)
    lines = [f"{k}: {v}" for k, v in sorted(counts.items())]
    for t in results:
        if t["status"] == "skip":
            lines.append(f"SKIP {t['id']}: {t.get('reason', '').strip()[:300]}")
    for t in results:
        if t["status"] == "fail":
            tb = t.get("traceback", "").strip().splitlines()
            lines.append(f"FAIL {t['id']}: {' | '.join(tb[-3:])[:600]}")
    text = "\n".join(lines) + "\n"
    out.write_text(text)
    return "\n".join(lines[: len(counts)])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=None, help="work directory (default /tmp/lbid-tempest-<time>)")
    ap.add_argument("--regex", default=REGEX)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--venv", type=Path, default=REPO / ".venv-tempest")
    ap.add_argument("--summarize", action="store_true", help="only (re)write summary.txt of the run in --work")
    args = ap.parse_args()
    if args.summarize:
        print(summarize(args.work / "tempest", args.venv, args.work / "summary.txt"))
        return 0
    work = args.work or Path(f"/tmp/lbid-tempest-{time.strftime('%Y%m%d-%H%M%S')}")
    work.mkdir(parents=True, exist_ok=True)
    (work / "keystone").mkdir(exist_ok=True)
    ks_port = procs.free_port(PORTS)
    lbaas_port = procs.free_port(PORTS, exclude={ks_port})
    lbaas_url = f"http://127.0.0.1:{lbaas_port}"
    started = time.time()
    with running_keystone(work / "keystone", port=ks_port) as ks:
        print(f"keystone pid {ks.pid} on {ks.url}", flush=True)
        setup_keystone(ks, lbaas_url)
        with running_lbaas(work, lbaas_port, ks) as url:
            tdir = work / "tempest"
            if tdir.exists():
                shutil.rmtree(tdir)
            (tdir / "etc").mkdir(parents=True)
            # what `tempest init` writes, without registering a workspace in ~/.tempest
            pkg = next((args.venv / "lib").glob("python3*/site-packages/tempest"))
            (tdir / ".stestr.conf").write_text(f"[DEFAULT]\ntest_path={pkg / 'test_discover'}\ntop_dir={pkg}\n"
                                               "group_regex=([^\\.]*\\.)*\n")  # fmt: skip
            conf = tdir / "etc" / "tempest.conf"
            barbican = subprocess.run([str(args.venv / "bin" / "python"), "-c", "import barbican_tempest_plugin"],
                                      capture_output=True, check=False).returncode == 0  # fmt: skip
            conf.write_text(tempest_conf(ks, url, work, barbican=barbican))
            print(f"tempest.conf: {conf}", flush=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "LBAAS_"))}
            env.update(TEMPEST_CONFIG_DIR=str(tdir / "etc"), TEMPEST_CONFIG="tempest.conf", HOME=str(tdir))
            cmd = [str(args.venv / "bin" / "tempest"), "run", "--regex", args.regex, "--concurrency",
                   str(args.concurrency), "--subunit"]  # fmt: skip
            with (tdir / "tempest.subunit").open("wb") as out, (work / "tempest-run.err").open("wb") as err:
                rc = subprocess.run(cmd, cwd=tdir, env=env, stdout=out, stderr=err, check=False).returncode
            print(f"tempest run exited {rc} after {time.time() - started:.0f} s", flush=True)
            try:
                sweep(url, password_token(ks.url, "admin", ADMIN_PASSWORD, "admin"))
            except Exception as e:  # noqa: BLE001 - the summary still matters
                print(f"sweep failed: {e}", flush=True)
    print(summarize(tdir, args.venv, work / "summary.txt"), flush=True)
    print(f"summary: {work / 'summary.txt'}  subunit: {tdir / 'tempest.subunit'}  took {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
