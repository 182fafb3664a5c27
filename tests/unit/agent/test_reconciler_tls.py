"""The reconciler writes a TLS listener's PEM files (0700 dir, 0600 files, named by digest) before the
config that names them, and removes the ones no config names any more once HAProxy runs the new one."""

from __future__ import annotations

import hashlib
import os
import stat

from lbaas.agent.haproxy.unit import WriteCerts, config_digest
from lbaas.domain.spec import LoadBalancerSpec
from tests.unit.agent.haproxy import cases as c
from tests.unit.agent.test_reconciler import LB, World, w  # noqa: F401  (fixture)


def _https(cert: str, generation: int) -> LoadBalancerSpec:
    tls = c._listener_tls(default_cert=c._tls_cert(cert))
    return c.https_lb(tls).model_copy(update={"generation": generation})


def test_pem_files_written_private_then_pruned(w: World) -> None:  # noqa: F811
    w.set(_https("www", 1))
    assert w.rec.reconcile(LB).ok
    certs = w.paths.certs
    assert stat.S_IMODE(certs.stat().st_mode) == 0o700
    (first,) = list(certs.iterdir())
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    assert first.name == hashlib.sha256(first.read_bytes()).hexdigest() + ".pem"
    assert first.name in w.paths.cfg.read_text()

    w.set(_https("api", 2))
    assert w.rec.reconcile(LB).ok
    (second,) = list(certs.iterdir())  # the old file is gone once the new config runs
    assert second.name != first.name and second.name in w.paths.cfg.read_text()
    assert w.verbs()[-1] == "reload"


def test_a_vanished_or_exposed_pem_file_is_repaired_without_a_reload(w: World) -> None:  # noqa: F811
    w.set(_https("www", 1))
    assert w.rec.reconcile(LB).ok
    certs = w.paths.certs
    (pem,) = list(certs.iterdir())
    content = pem.read_bytes()
    pem.unlink()
    os.chmod(certs, 0o755)
    (certs / "stray.pem").write_text("left by an agent that died before pruning")
    w.reset_calls()
    assert w.rec.reconcile(LB).ok
    assert [p.name for p in certs.iterdir()] == [pem.name] and pem.read_bytes() == content
    assert stat.S_IMODE(certs.stat().st_mode) == 0o700 and stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert w.verbs() == []  # the running HAProxy has it loaded: neither checked nor reloaded
    w.reset_calls()
    assert w.rec.reconcile(LB).ok and w.verbs() == [] and w.plumber.calls == []  # converged again: cheap path


def test_the_loaded_digest_covers_the_pem_files_and_steps_never_show_a_key() -> None:
    text = "frontend f\n    bind :443 ssl crt /c/abc.pem\n"
    assert config_digest(text) == hashlib.sha256(text.encode()).hexdigest()
    assert config_digest(text, ["abc.pem"]) != config_digest(text) != config_digest(text, ["abd.pem"])
    assert "SECRET" not in repr(WriteCerts(("abc.pem",), ("-----BEGIN PRIVATE KEY-----SECRET",)))
