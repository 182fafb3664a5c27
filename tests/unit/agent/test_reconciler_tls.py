"""The reconciler writes a TLS listener's PEM files (0700 dir, 0600 files, named by digest) before the
config that names them, and removes the ones no config names any more once HAProxy runs the new one."""

from __future__ import annotations

import hashlib
import stat

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
