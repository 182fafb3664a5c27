"""A real Keystone for the identity tests: PyPI ``keystone`` in its own venv (scripts/keystone-venv.sh),
SQLite, fernet tokens, served by gunicorn on a free loopback port, stopped by its pid.

``running_keystone(workdir)`` yields a ``Keystone`` with an admin client (plain HTTP calls to the v3 API)
to make projects, users, role assignments, services and endpoints.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lbaas.tools import procs

REPO = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "ks-admin-secret"
START_TIMEOUT = 60.0


def keystone_venv() -> Path:
    """The venv with keystone and gunicorn (made by scripts/keystone-venv.sh on first use)."""
    out = subprocess.run(["bash", str(REPO / "scripts" / "keystone-venv.sh")], capture_output=True, text=True,
                         timeout=900, check=False)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"scripts/keystone-venv.sh failed:\n{out.stderr[-3000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass
class Keystone:
    url: str  # http://127.0.0.1:<port>/v3
    pid: int
    log: Path
    _token: str = ""
    ids: dict[str, str] = field(default_factory=dict)

    def admin_token(self) -> str:
        if not self._token:
            self._token = password_token(self.url, "admin", ADMIN_PASSWORD, "admin")
        return self._token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = httpx.request(method, self.url + path, json=body, headers={"X-Auth-Token": self.admin_token()}, timeout=60)
        if r.status_code >= 400:
            raise RuntimeError(f"keystone {method} {path} → {r.status_code}: {r.text}")
        return r.json() if r.content else None

    def role_id(self, name: str) -> str:
        found = self.call("GET", f"/roles?name={name}")["roles"]
        if found:
            return str(found[0]["id"])
        return str(self.call("POST", "/roles", {"role": {"name": name}})["role"]["id"])

    def project(self, name: str) -> str:
        found = self.call("GET", f"/projects?name={name}")["projects"]
        if found:
            return str(found[0]["id"])
        return str(self.call("POST", "/projects", {"project": {"name": name, "domain_id": "default"}})["project"]["id"])

    def user(self, name: str, password: str, project: str, *roles: str) -> str:
        uid = str(self.call("POST", "/users", {"user": {"name": name, "password": password, "domain_id": "default",
                                                         "default_project_id": project}})["user"]["id"])  # fmt: skip
        for role in roles:
            self.call("PUT", f"/projects/{project}/users/{uid}/roles/{self.role_id(role)}")
        return uid

    def service(self, type_: str, name: str, url: str) -> None:
        sid = self.call("POST", "/services", {"service": {"type": type_, "name": name, "enabled": True}})["service"]["id"]
        for interface in ("public", "internal", "admin"):
            self.call("POST", "/endpoints", {"endpoint": {"service_id": sid, "interface": interface, "url": url,
                                                           "region_id": "RegionOne"}})  # fmt: skip

    def revoke(self, token: str) -> None:
        r = httpx.delete(self.url + "/auth/tokens", headers={"X-Auth-Token": self.admin_token(), "X-Subject-Token": token},
                         timeout=60)  # fmt: skip
        assert r.status_code == 204, r.text


def password_token(url: str, user: str, password: str, project: str) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": user, "password": password,
            "domain": {"id": "default"}}}}, "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}  # fmt: skip
    r = httpx.post(url + "/auth/tokens", json=body, timeout=60)
    if r.status_code != 201:
        raise RuntimeError(f"keystone token for {user}: {r.status_code} {r.text}")
    return r.headers["X-Subject-Token"]


def _conf(work: Path) -> Path:
    conf = work / "keystone.conf"
    for d in ("fernet-keys", "credential-keys", "fernet-receipts"):
        (work / d).mkdir(mode=0o700, exist_ok=True)
    conf.write_text(f"""[DEFAULT]
log_file = {work / "keystone-app.log"}
[database]
connection = sqlite:///{work / "keystone.sqlite"}
[token]
provider = fernet
expiration = 3600
[fernet_tokens]
key_repository = {work / "fernet-keys"}
[fernet_receipts]
key_repository = {work / "fernet-receipts"}
[credential]
key_repository = {work / "credential-keys"}
[cache]
enabled = false
""")
    return conf


@contextlib.contextmanager
def running_keystone(work: Path, port: int | None = None) -> Iterator[Keystone]:
    venv = keystone_venv()
    conf = _conf(work)
    port = port or procs.free_port()
    url = f"http://127.0.0.1:{port}/v3"
    manage = [str(venv / "bin" / "keystone-manage"), "--config-file", str(conf)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "LBAAS_"))}
    owner = ["--keystone-user", "root", "--keystone-group", "root"]
    steps = (["db_sync"], ["fernet_setup", *owner],
             ["bootstrap", "--bootstrap-password", ADMIN_PASSWORD, "--bootstrap-admin-url", url,
              "--bootstrap-public-url", url, "--bootstrap-internal-url", url, "--bootstrap-region-id", "RegionOne"])  # fmt: skip
    for args in steps:
        out = subprocess.run(manage + args, env=env, capture_output=True, text=True, timeout=300, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"keystone-manage {args[0]} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    log = work / "gunicorn.log"
    env["OS_KEYSTONE_CONFIG_FILES"] = str(conf)
    # keystone parses sys.argv with oslo.config when it loads: give it none of gunicorn's arguments.
    (work / "keystone_app.py").write_text("import sys\nsys.argv = sys.argv[:1]\nfrom keystone.wsgi.api import application\n")
    cmd = [str(venv / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
           "--timeout", "120", "--chdir", str(work), "keystone_app:application"]  # fmt: skip
    with procs.running(cmd, log, procs.http_ok(url), what=f"keystone on {url}", timeout=START_TIMEOUT,
                       stop_timeout=15, env=env, cwd=work, interval=0.2) as proc:  # fmt: skip
        yield Keystone(url=url, pid=proc.pid, log=log)
