"""Live certificate swaps: which config differences become ``set/commit ssl`` commands, the HAProxy unit's
plan for them, and the executed plan on the fake HAProxy (no reload; reload when HAProxy says no).

Texts come from the real renderer; certificates are made on the fly (a renewal keeps the names)."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lbaas.agent.haproxy.process import FakeHaproxyProcess
from lbaas.agent.haproxy.render import render_haproxy
from lbaas.agent.haproxy.runtime_certs import MAX_COMMAND, CertSwap, plan_cert_swap
from lbaas.agent.haproxy.unit import (
    Check,
    CheckInBackground,
    ForgetDeletes,
    HaproxyMemory,
    HaproxyRecord,
    HaproxyUnit,
    KeepCertKeys,
    LiveApply,
    MarkLoaded,
    PruneCerts,
    Refuse,
    Reload,
    SaveServerState,
    Swap,
    WriteCerts,
    cert_keys_json,
    config_digest,
    parse_cert_keys,
)
from lbaas.agent.haproxy.viewmodel import sni_names, tls_files
from lbaas.agent.paths import LbPaths
from lbaas.agent.plan import Adopt
from lbaas.agent.units import UnitView
from lbaas.domain.spec import LoadBalancerSpec, PoolTlsSpec, TlsCertSpec
from tests.tlsutil import CA
from tests.unit.agent.haproxy import cases as c
from tests.unit.agent.haproxy.cases import TLS_OPTS
from tests.unit.agent.test_reconciler import LB, World, w  # noqa: F401  (fixture)

ROOT = CA("rc root")
CLIENT_CA = CA("rc client CA")
DIR = TLS_OPTS.cert_dir


def cert(name: str, kind: str = "ec") -> TlsCertSpec:
    issued = ROOT.issue(name, kind=kind)
    return TlsCertSpec(pem=(issued.cert_pem + issued.key_pem).decode(), names=(name,))


WWW, WWW2, WWW3 = cert("www.example.com"), cert("www.example.com"), cert("www.example.com")
API, API2 = cert("api.example.com", "rsa"), cert("api.example.com", "rsa")
OTHER = cert("other.example.com")
CA_PEM, CA2_PEM = CLIENT_CA.cert_pem.decode(), CA("rc client CA 2").cert_pem.decode()
CRL_PEM, CRL2_PEM = CLIENT_CA.crl_pem().decode(), CLIENT_CA.crl_pem().decode()


def https(default: TlsCertSpec, sni: tuple[TlsCertSpec, ...] = (), generation: int = 1, *,
          second: TlsCertSpec | None = None, pool_cert: TlsCertSpec | None = None, ca: str | None = None,
          crl: str | None = None, members: int = 2, **tls_kw: Any) -> LoadBalancerSpec:  # fmt: skip
    """:443 with ``default`` and ``sni``; with ``second``, :8443 whose default is ``second``; with ``ca``,
    client authentication on :443; with ``pool_cert``, a re-encrypting pool presenting it."""
    auth = {"client_authentication": "MANDATORY", "client_ca_pem": ca, "client_crl_pem": crl} if ca else {}
    listeners = [c.listener("listener-443", protocol="TERMINATED_HTTPS", port=443,
                            tls=c._listener_tls(default_cert=default, sni_certs=sni, **auth, **tls_kw))]  # fmt: skip
    if second is not None:
        listeners.append(c.listener("listener-8443", protocol="TERMINATED_HTTPS", port=8443,
                                    tls=c._listener_tls(default_cert=second)))  # fmt: skip
    pool_kw: dict[str, Any] = {"members": tuple(c.member(f"m{i}", f"198.51.100.{10 + i}") for i in range(members))}
    if pool_cert is not None:
        pool_kw |= {"tls_enabled": True, "tls": PoolTlsSpec(client_cert=pool_cert)}
    return c.lb(tuple(listeners), (c.pool(**pool_kw),)).model_copy(update={"generation": generation})


def path(x: TlsCertSpec | str) -> str:
    pem = x if isinstance(x, str) else x.pem
    return f"{DIR}/{hashlib.sha256(pem.encode()).hexdigest()}.pem"


def swap(a: LoadBalancerSpec, b: LoadBalancerSpec, keys: dict[str, str] | None = None) -> CertSwap | None:
    return plan_cert_swap(render_haproxy(a, TLS_OPTS), render_haproxy(b, TLS_OPTS), keys=keys or {},
                          pems=tls_files(b), names={**sni_names(a), **sni_names(b)})  # fmt: skip


def cmds(*pairs: tuple[str, TlsCertSpec | str]) -> list[tuple[str, str]]:
    """(store, new content) → the command texts expected (set, commit) for each."""
    out = []
    for store, new in pairs:
        kind = "cert" if isinstance(new, TlsCertSpec) else ("crl-file" if "X509 CRL" in new else "ca-file")
        out += [(f"set ssl {kind} {store}", new.pem if isinstance(new, TlsCertSpec) else new),
                (f"commit ssl {kind} {store}", "")]  # fmt: skip
    return out


def shown(s: CertSwap | None) -> list[tuple[str, str]]:
    assert s is not None
    return [(cmd.text, (cmd.payload or "")) for cmd in s.commands]


@dataclass(frozen=True)
class Row:
    old: LoadBalancerSpec
    new: LoadBalancerSpec
    expected: list[tuple[str, TlsCertSpec | str]] | None  # (store, new content) in command order; None: reload
    keys: tuple[tuple[str, str], ...] = ()  # after the swap
    memory: tuple[tuple[str, str], ...] = ()  # before


ROWS: dict[str, Row] = {
    "default renewed (same names)": Row(https(WWW), https(WWW2), [(path(WWW), WWW2)], ((path(WWW2), path(WWW)),)),
    "SNI renewed": Row(https(WWW, (API,)), https(WWW, (API2,)), [(path(API), API2)], ((path(API2), path(API)),)),
    "default and SNI renewed": Row(https(WWW, (API,)), https(WWW2, (API2,)), [(path(WWW), WWW2), (path(API), API2)],
                                   ((path(API2), path(API)), (path(WWW2), path(WWW)))),
    "a second swap goes to the store the first one filled": Row(https(WWW2), https(WWW3), [(path(WWW), WWW3)],
        ((path(WWW3), path(WWW)),), memory=((path(WWW2), path(WWW)),)),
    "back to the first content: the store is its own name again": Row(https(WWW2), https(WWW), [(path(WWW), WWW)],
        (), memory=((path(WWW2), path(WWW)),)),
    "client CA and CRL replaced": Row(https(WWW, ca=CA_PEM, crl=CRL_PEM), https(WWW, ca=CA2_PEM, crl=CRL2_PEM),
        [(path(CA_PEM), CA2_PEM), (path(CRL_PEM), CRL2_PEM)],
        ((path(CA2_PEM), path(CA_PEM)), (path(CRL2_PEM), path(CRL_PEM)))),
    "pool client certificate renewed (server lines)": Row(https(WWW, pool_cert=API), https(WWW, pool_cert=API2),
        [(path(API), API2)], ((path(API2), path(API)),)),
    "a certificate shared by two listeners, renewed for both": Row(https(WWW, second=WWW), https(WWW2, second=WWW2),
        [(path(WWW), WWW2)], ((path(WWW2), path(WWW)),)),
    "a certificate shared by two listeners, renewed for one: reload": Row(https(WWW, second=WWW),
        https(WWW2, second=WWW), None),
    "names changed (another certificate): reload": Row(https(WWW), https(OTHER), None),
    "SNI certificate added: reload": Row(https(WWW), https(WWW, (API,)), None),
    "SNI order swapped: reload": Row(https(WWW, (API, OTHER)), https(WWW, (OTHER, API)), None),
    "a TLS option changed too: reload": Row(https(WWW), https(WWW2, tls_versions=("TLSv1.3",)), None),
    "a member changed too: reload": Row(https(WWW), https(WWW2, members=3), None),
    "members only: not a certificate swap": Row(https(WWW), https(WWW, members=3), None),
    "the store remembered is not where the old file is (agent memory wrong): reload": Row(https(WWW2, (WWW,)),
        https(WWW3, (WWW,)), None, memory=((path(WWW2), path(WWW)),)),
}  # fmt: skip


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_plan_cert_swap(row: Row) -> None:
    out = swap(row.old, row.new, dict(row.memory))
    if row.expected is None:
        assert out is None
        return
    assert [(t, p.strip()) for t, p in shown(out)] == [(t, p.strip()) for t, p in cmds(*row.expected)]
    assert out is not None and out.keys == tuple(sorted(row.keys))


def test_answers_are_those_of_haproxy_2_6() -> None:
    out = swap(https(WWW), https(WWW2))
    assert out is not None
    set_, commit = out.commands
    store = path(WWW)
    assert set_.accepts(f"Transaction created for certificate {store}!\n\n")
    assert not set_.accepts("Can't replace a certificate which is not referenced by the configuration!\n"
                            f"Can't update {store}!\n")  # fmt: skip
    assert not set_.accepts("")  # a payload too large for the CLI buffer: 2.6 closes without a word
    assert commit.accepts(f"Committing {store}..\nSuccess!\n\n")
    assert not commit.accepts(f"The transaction must contain at least a certificate and a private key!\n"
                              f"Can't commit {store}!\n")  # fmt: skip
    assert set_.wire.startswith(f"set ssl cert {store} <<\n-----BEGIN") and set_.wire.endswith("-----\n")
    assert "PRIVATE KEY" not in repr(set_) and "PRIVATE KEY" in set_.wire  # the key never in a log line


def test_a_payload_too_large_for_the_cli_is_not_tried_live() -> None:
    big = TlsCertSpec(pem=WWW2.pem + ROOT.cert_pem.decode() * (MAX_COMMAND // len(ROOT.cert_pem)),
                      names=WWW2.names)  # fmt: skip
    assert swap(https(WWW), https(big)) is None
    blank = TlsCertSpec(pem=WWW2.pem.replace("-----\n", "-----\n\n", 1), names=WWW2.names)
    assert swap(https(WWW), https(blank)) is None  # an empty line would end the payload early


# ---------------------------------------------------------------------------------------------- the unit's plan

UNIT = HaproxyUnit(FakeHaproxyProcess(), lambda paths: TLS_OPTS, lambda paths, text: None)
PATHS = LbPaths(Path("/nonexistent"), LB)


def view(old: LoadBalancerSpec, new: LoadBalancerSpec, *, mem: HaproxyMemory | None = None,
         applied: bool = True) -> UnitView:  # fmt: skip
    old_r, new_r = UNIT.render(old, PATHS), UNIT.render(new, PATHS)
    old_text = old_r.files["haproxy.cfg"]
    names = frozenset(k[len("certs/"):] for k in old_r.files if k.startswith("certs/"))
    record = HaproxyRecord(old_text, config_digest(old_text, names), 100, True, names, True)
    return UnitView(new, new_r, record, mem, old if applied else None)


def test_the_unit_plans_a_renewal_live_with_the_reload_as_fallback() -> None:
    old, new = https(WWW, (API,)), https(WWW2, (API,), generation=2)
    text = render_haproxy(new, TLS_OPTS)
    out = swap(old, new)
    assert out is not None
    n_www, n_www2, n_api = (path(x).rsplit("/", 1)[1] for x in (WWW, WWW2, API))
    p = UNIT.plan(view(old, new))
    assert not p.converged
    assert p.live == (WriteCerts((n_www2,), (WWW2.pem,)), Check(text), LiveApply(out.commands), Swap(),
                      MarkLoaded(text, tuple(sorted((n_api, n_www2)))),
                      KeepCertKeys(out.keys, config_digest(text, (n_api, n_www2))), PruneCerts((n_www,)))
    assert p.pre == (WriteCerts((n_www2,), (WWW2.pem,)), CheckInBackground(text))
    assert p.post == (Check(text, background=True), Swap(), SaveServerState(), Reload(), ForgetDeletes(),
                      MarkLoaded(text, tuple(sorted((n_api, n_www2)))), Adopt(False), PruneCerts((n_www,)))  # fmt: skip


def test_the_unit_does_not_go_live_for_a_text_refused_before_or_a_process_it_did_not_converge() -> None:
    old, new = https(WWW), https(WWW2, generation=2)
    text = render_haproxy(new, TLS_OPTS)
    refused = UNIT.plan(view(old, new, mem=HaproxyMemory(refused=(text, "bad"))))
    assert refused.live == (Refuse("bad"),)
    assert UNIT.plan(view(old, new, applied=False)).live is None  # a new agent process: the reload path


# ---------------------------------------------------------------------------------------------- executed on the fake


def test_renewals_are_applied_live_and_a_refusal_reloads(w: World) -> None:  # noqa: F811
    w.haproxy.live_runtime = True
    w.set(https(WWW, (API,)))
    assert w.rec.reconcile(LB).ok
    w.reset_calls()
    log = w.haproxy.lbs[w.paths].runtime_log
    log.clear()

    def at(x: TlsCertSpec) -> str:
        return str(w.paths.certs / path(x).rsplit("/", 1)[1])

    w.set(https(WWW2, (API2,), generation=2))
    assert w.rec.reconcile(LB).ok
    assert w.verbs() == ["check", "swap"]  # no reload
    assert [line.split(" <<")[0] for line in log] == [
        f"set ssl cert {at(WWW)}", f"commit ssl cert {at(WWW)}",
        f"set ssl cert {at(API)}", f"commit ssl cert {at(API)}"]  # fmt: skip
    files = sorted(p.name for p in w.paths.certs.iterdir())
    assert files == sorted(path(x).rsplit("/", 1)[1] for x in (WWW2, API2))  # the old ones pruned
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in w.paths.certs.iterdir())
    assert at(WWW2) in w.paths.cfg.read_text()  # a later reload reads the same material
    w.reset_calls()
    assert w.rec.reconcile(LB).ok and w.verbs() == []  # converged: the loaded digest names the new files

    # the next renewal goes to the store named after the first file; HAProxy refusing it: reload instead
    log.clear()
    w.haproxy.responses[f"commit ssl cert {at(WWW)}"] = f"Can't commit {at(WWW)}!\n"
    w.set(https(WWW3, (API2,), generation=3))
    assert w.rec.reconcile(LB).ok
    assert log[0].startswith(f"set ssl cert {at(WWW)} <<\n-----BEGIN")
    assert w.verbs() == ["check", "check", "swap", "reload"]
    mem = w.rec.memory(LB)
    assert mem is not None and mem.units["haproxy"].cert_keys == {}  # the new worker loaded every file by name
    assert w.reports.done[-1] == (LB, 3, True, None)


def test_a_new_agent_process_reloads_for_a_renewal_it_did_not_see_start(w: World) -> None:  # noqa: F811
    w.haproxy.live_runtime = True
    w.set(https(WWW))
    assert w.rec.reconcile(LB).ok
    w.new_agent()
    w.set(https(WWW2, generation=2))
    w.reset_calls()
    assert w.rec.reconcile(LB).ok
    assert w.verbs() == ["check", "swap", "reload"]


# ---------------------------------------------------------------------------------------------- after an agent restart


def test_the_store_mapping_file_is_read_back_only_for_the_config_it_was_written_for() -> None:
    keys = ((path(WWW2), path(WWW)), (path(API2), path(API)))
    text = cert_keys_json("d1", keys)
    assert parse_cert_keys(text, "d1") == tuple(sorted(keys))
    assert parse_cert_keys(text, "d2") is None  # another config was loaded since: stale, ignored
    for bad in ("", "[]", "{", '{"loaded": "d1"}', '{"loaded": "d1", "keys": [["a", "b"]]}',
                '{"loaded": "d1", "keys": [["' + path(WWW) + '\\nshow info", "' + path(API) + '"]]}',
                '{"loaded": "d1", "keys": [["' + path(WWW) + '"]]}'):  # fmt: skip
        assert parse_cert_keys(bad, "d1") is None, bad  # the paths go into runtime commands


def test_the_plan_uses_the_mapping_on_disk_when_this_process_has_none() -> None:
    """A new agent process (empty memory) that adopted the LB: the record's mapping names the stores."""
    old, new = https(WWW2), https(WWW3, generation=2)
    v = view(old, new)
    assert isinstance(v.record, HaproxyRecord)
    on_disk = dataclasses.replace(v.record, cert_keys=((path(WWW2), path(WWW)),))

    def first_set(record: HaproxyRecord) -> str:
        plan = UNIT.plan(UnitView(v.desired, v.rendered, record, None, v.applied))
        (live,) = [s for s in plan.live or () if isinstance(s, LiveApply)]
        return live.commands[0].text

    assert first_set(on_disk) == f"set ssl cert {path(WWW)}"  # the store named after the first file
    assert first_set(v.record) == f"set ssl cert {path(WWW2)}"  # none on disk: the file's own name


def test_a_restarted_agent_renews_live_into_the_stores_the_last_one_named(w: World) -> None:  # noqa: F811
    w.haproxy.live_runtime = True
    w.set(https(WWW, (API,)))
    assert w.rec.reconcile(LB).ok

    def at(x: TlsCertSpec) -> str:
        return str(w.paths.certs / path(x).rsplit("/", 1)[1])

    w.set(https(WWW2, (API,), generation=2))
    assert w.rec.reconcile(LB).ok
    keys_file = w.paths.cert_keys
    assert keys_file.stat().st_mode & 0o777 == 0o600
    assert parse_cert_keys(keys_file.read_text(), w.paths.loaded.read_text().strip()) == ((at(WWW2), at(WWW)),)

    # a member added live: the loaded digest moves, the mapping follows it
    w.set(https(WWW2, (API,), generation=3, members=3))
    w.reset_calls()
    assert w.rec.reconcile(LB).ok and "reload" not in w.verbs()
    assert parse_cert_keys(keys_file.read_text(), w.paths.loaded.read_text().strip()) == ((at(WWW2), at(WWW)),)

    w.new_agent()
    w.reset_calls()
    assert w.rec.reconcile(LB).ok and w.verbs() == []  # adopted, untouched
    log = w.haproxy.lbs[w.paths].runtime_log
    log.clear()
    w.set(https(WWW3, (API,), generation=4, members=3))
    assert w.rec.reconcile(LB).ok
    assert w.verbs() == ["check", "swap"]  # live: no reload
    assert [line.split(" <<")[0] for line in log] == [f"set ssl cert {at(WWW)}", f"commit ssl cert {at(WWW)}"]
    assert parse_cert_keys(keys_file.read_text(), w.paths.loaded.read_text().strip()) == ((at(WWW3), at(WWW)),)

    # a reload: the new worker holds every file under its own name; the file goes before it reloads
    w.set(https(WWW3, (API,), generation=5, members=3, tls_versions=("TLSv1.3",)))
    w.reset_calls()
    assert w.rec.reconcile(LB).ok and "reload" in w.verbs()
    assert not keys_file.exists()


def test_a_stale_mapping_file_is_ignored(w: World) -> None:  # noqa: F811
    w.haproxy.live_runtime = True
    w.set(https(WWW))
    assert w.rec.reconcile(LB).ok
    w.set(https(WWW2, generation=2))
    assert w.rec.reconcile(LB).ok
    at_www2 = str(w.paths.certs / path(WWW2).rsplit("/", 1)[1])
    w.paths.cert_keys.write_text(cert_keys_json("0" * 64, ((at_www2, "/elsewhere/" + "1" * 64 + ".pem"),)))
    w.new_agent()
    assert w.rec.reconcile(LB).ok
    log = w.haproxy.lbs[w.paths].runtime_log
    log.clear()
    w.set(https(WWW3, generation=3))
    assert w.rec.reconcile(LB).ok
    assert log[0].startswith(f"set ssl cert {at_www2} <<")  # the file's own name: the mapping was not used
