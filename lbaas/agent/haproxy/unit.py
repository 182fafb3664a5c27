"""HAProxy as a data-plane unit (``lbaas.agent.units.Unit``): its file, its record, its steps.

Its files are ``haproxy.cfg`` and the TLS material it names (``certs/<sha256>.pem``: certificates, keys,
CA bundles, CRLs; named by the SHA-256 of their content, so a changed certificate is a new name and so a
changed config, and the digest covers them); its record is that file, the names in ``certs/`` (and
whether that directory is 0700), the digest the running HAProxy confirmed it loaded (``loaded``) and the
master's pid (and whether it serves in the LB's namespace). What this process
remembers of it: the last config HAProxy refused (with its words, so the same text is not checked again
every resync), the ``del server`` commands HAProxy refused while connections were open, and, after live
certificate swaps, which PEM file's content each store of the running HAProxy holds (a store keeps the
name of the file it was loaded from; a new process forgets: it loaded every file under its own name).

That last mapping is also on disk (``cert_keys.json``, 0600, replaced whole), with the ``loaded`` digest
of the config it belongs to, so that an agent restarted after a live swap still renews live: ``observe``
reads it back only when that digest is the loaded one (a stale file is ignored), and it is removed before
anything makes HAProxy load its config anew (start, reload, restore), since a new process holds every file
under its own name.

``haproxy.cfg`` is what was checked and swapped in; ``loaded`` is what the running HAProxy confirmed it
runs. They differ after a reload failed, or the agent died between swap and reload: then the file is
right and the process is not, and only a reload fixes it.

The PEM files are written (0600, in a 0700 ``certs/``, each whole through a rename) before anything
reads the config that names them, a background ``haproxy -c`` included; those no desired config names
are removed once the running HAProxy loaded the new one (until then the old config may still be
restored or reloaded). A missing or stray PEM file, or a ``certs/`` not 0700, is not converged.

The plan (pure, ``HaproxyUnit.plan``):

    converged        the running HAProxy (in the namespace) loaded exactly the text, on disk too, and
                     no runtime delete is pending
    live             a members-only change to an HAProxy this process runs, with the same VIP and the
                     file loaded: runtime commands, then check and swap the file (no reload)
    live certificates  a change of PEM content only (same listeners, same SNI names): the new files
                     written, the text checked, ``set/commit ssl cert|ca-file|crl-file``, the file
                     swapped (no reload; ``lbaas.agent.haproxy.runtime_certs``)
    first start      no file, nothing running: stage, swap, start (HAProxy parses it; ``haproxy -c``
                     only to explain a failed start)
    text unchanged   start it if it died (else retry pending deletes, or adopt it on a first pass)
    text changed     check (started in the background before the plumbing), swap, reload or start
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import re
import stat
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from lbaas.agent.haproxy.options import RenderOptions
from lbaas.agent.haproxy.process import ConfigRejected, HaproxyError, HaproxyProcess
from lbaas.agent.haproxy.render import render_haproxy
from lbaas.agent.haproxy.runtime_certs import plan_cert_swap
from lbaas.agent.haproxy.runtime_plan import Command, plan_runtime
from lbaas.agent.haproxy.server_state import align_admin_state
from lbaas.agent.haproxy.viewmodel import sni_names, tls_files
from lbaas.agent.paths import LbPaths, read_file
from lbaas.agent.plan import Adopt
from lbaas.agent.plan import digest as _digest
from lbaas.agent.units import NotLive, Rendered, RunContext, Step, UnitPlan, UnitStep, UnitView
from lbaas.domain.spec import LoadBalancerSpec

log = logging.getLogger(__name__)

CFG = "haproxy.cfg"
CERTS = "certs/"  # prefix of the PEM files' keys in ``Rendered.files`` (``LbPaths.certs``)
DELETE_RETRY_S = 2.0


def config_digest(text: str, certs: Iterable[str] = ()) -> str:
    """The digest of a config and the PEM files it names (``certs``: their names, each the SHA-256 of the
    file's content, so covering the names covers the content). Without PEM files: the text's digest."""
    names = sorted(certs)
    return _digest(text + "\0" + "\n".join(names)) if names else _digest(text)


def _names_in(text: str, names: Iterable[str]) -> tuple[str, ...]:
    """Which of ``names`` (PEM files on disk) the config ``text`` names."""
    return tuple(sorted(n for n in names if n in text))


def _read(path: Path, *, strip: bool = True) -> str | None:
    text = read_file(path)
    return text.strip() if strip and text is not None else text


@dataclass(frozen=True)
class HaproxyRecord:
    cfg: str | None  # haproxy.cfg as on disk
    loaded: str | None  # digest the running HAProxy confirmed
    pid: int | None  # master pid (None: not running)
    in_ns: bool  # ... serving in the LB's namespace
    certs: frozenset[str] = frozenset()  # file names in certs/ (stray temporary files included)
    certs_private: bool = True  # certs/ is 0700 (or absent)
    cert_keys: tuple[tuple[str, str], ...] | None = None  # cert_keys.json, when it is for the loaded config

    @property
    def running(self) -> bool:
        return self.pid is not None


@dataclass
class HaproxyMemory:
    refused: tuple[str, str] | None = None  # (config text, HAProxy's words) last refused
    pending_deletes: set[str] = field(default_factory=set)  # "del server" commands to retry
    cert_keys: dict[str, str] = field(default_factory=dict)  # PEM file path → the store holding its content

    def new_process(self) -> None:
        """A new process (or worker) loaded the config: exactly its servers, every file under its name."""
        self.pending_deletes.clear()
        self.cert_keys.clear()


# ---------------------------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class HaproxyStep(UnitStep):
    unit: ClassVar[str] = "haproxy"


@dataclass(frozen=True)
class CheckInBackground(HaproxyStep):
    """``haproxy -c`` is a process of its own: it runs while the plumbing is done (both take ~50 ms)."""

    text: str


@dataclass(frozen=True)
class Check(HaproxyStep):
    """Check ``text`` (the background check's result when ``background``). ``refused``: the same text was
    refused before, with these words: refused again without running HAProxy. On refusal, ``restore``
    (the last good config, whose HAProxy died) is started again."""

    text: str
    background: bool = False
    refused: str | None = None
    restore: str | None = None
    restore_certs: tuple[str, ...] = ()  # the PEM files ``restore`` names


@dataclass(frozen=True)
class Swap(HaproxyStep):
    pass


@dataclass(frozen=True)
class FirstStart(HaproxyStep):
    """A new LB: stage, swap, start. HAProxy parses the file when it starts and exits non-zero on a bad
    one, so ``haproxy -c`` (≈ 40 ms of CPU) runs only when the start failed, to tell a refused config
    (terminal; no live config is left) from a transient failure (retried)."""

    text: str
    refused: str | None = None


@dataclass(frozen=True)
class SaveServerState(HaproxyStep):
    pass


@dataclass(frozen=True)
class Reload(HaproxyStep):
    pass


@dataclass(frozen=True)
class Start(HaproxyStep):
    pass


@dataclass(frozen=True)
class MarkLoaded(HaproxyStep):
    """Record what the running HAProxy loaded: ``text`` and the PEM files it names (``certs``)."""

    text: str
    certs: tuple[str, ...] = ()


@dataclass(frozen=True)
class WriteCerts(HaproxyStep):
    """Write these PEM files into certs/ (made 0700), each 0600 and whole (temporary file, rename)."""

    names: tuple[str, ...]
    contents: tuple[str, ...] = field(repr=False)  # keys among them: never in a log line


@dataclass(frozen=True)
class PruneCerts(HaproxyStep):
    """Remove these files from certs/: no desired config names them (the running HAProxy loaded its own)."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class ForgetDeletes(HaproxyStep):
    """A new process (or worker) has exactly the config's servers (nothing left to delete) and holds every
    PEM file in a store of its own name (no live swap to remember)."""


@dataclass(frozen=True)
class RetryDeletes(HaproxyStep):
    pass


@dataclass(frozen=True)
class Refuse(HaproxyStep):
    """The text was refused already: neither applied live nor checked again."""

    words: str


@dataclass(frozen=True)
class LiveApply(HaproxyStep):
    """Runtime commands; a failed one (not best effort) raises ``NotLive``."""

    commands: tuple[Command, ...]


@dataclass(frozen=True)
class CheckLive(HaproxyStep):
    """Check the text a live change made true; if refused (it cannot be: it differs from a checked one by
    server lines HAProxy just took), put the process back on the file that still is the live config."""

    text: str


@dataclass(frozen=True)
class KeepCertKeys(HaproxyStep):
    """After a live change: which store holds each PEM file's content (where not its own), in memory and
    in ``cert_keys.json`` for the config of digest ``loaded`` (none: the file is removed)."""

    keys: tuple[tuple[str, str], ...]
    loaded: str = ""


@dataclass(frozen=True)
class KeepPendingDeletes(HaproxyStep):
    """Remember the deletes HAProxy refused during ``LiveApply`` (servers with open connections)."""


# ---------------------------------------------------------------------------------------------- the unit


class HaproxyUnit:
    name = "haproxy"

    def __init__(
        self,
        process: HaproxyProcess,
        options: Callable[[LbPaths], RenderOptions],
        save_server_state: Callable[[LbPaths, str], None],
    ) -> None:
        self.process = process
        self._options = options
        self._save_server_state = save_server_state
        self._lock = threading.Lock()
        self._checker: concurrent.futures.ThreadPoolExecutor | None = None

    # -------------------------------------------------------------- render, observe

    def render(self, desired: LoadBalancerSpec, paths: LbPaths) -> Rendered:
        text = render_haproxy(desired, self._options(paths))
        pems = tls_files(desired)
        files = {CFG: text, **{CERTS + name: pem for name, pem in pems.items()}}
        return Rendered(files, config_digest(text, pems))

    def observe(self, paths: LbPaths, ns: str) -> HaproxyRecord:
        pid = self.process.running_in(paths, ns)
        in_ns = pid is not None
        if pid is None:
            pid = self.process.is_running(paths)
        certs, private = _observe_certs(paths.certs)
        loaded = _read(paths.loaded)
        keys_text = read_file(paths.cert_keys) if loaded is not None else None
        keys = parse_cert_keys(keys_text, loaded) if keys_text is not None and loaded is not None else None
        return HaproxyRecord(_read(paths.cfg, strip=False), loaded, pid, in_ns, certs, private, keys)

    def stopped(self, record: HaproxyRecord) -> HaproxyRecord:
        return HaproxyRecord(record.cfg, record.loaded, None, False, record.certs, record.certs_private)

    def new_memory(self) -> HaproxyMemory:
        return HaproxyMemory()

    def requeue_after(self, memory: HaproxyMemory | None) -> float | None:
        return DELETE_RETRY_S if memory is not None and memory.pending_deletes else None

    def stop(self, paths: LbPaths) -> None:
        self.process.stop(paths)

    # -------------------------------------------------------------- plan (pure)

    def plan(self, view: UnitView) -> UnitPlan:
        text = view.rendered.files[CFG]
        rec: HaproxyRecord = view.record
        mem: HaproxyMemory = view.memory if view.memory is not None else HaproxyMemory()
        current, running = rec.cfg, rec.running
        refused = mem.refused[1] if mem.refused is not None and mem.refused[0] == text else None
        pems = {k[len(CERTS):]: v for k, v in view.rendered.files.items() if k.startswith(CERTS)}
        names = tuple(sorted(pems))
        missing = [n for n in names if n not in rec.certs or not rec.certs_private]
        write: list[Step] = [WriteCerts(tuple(missing), tuple(pems[n] for n in missing))] if missing else []
        stray = tuple(sorted(rec.certs - set(pems)))
        prune: list[Step] = [PruneCerts(stray)] if stray else []
        converged = (
            not mem.pending_deletes and rec.loaded == view.rendered.digest and current == text and rec.in_ns
            and not write and not prune
        )  # fmt: skip
        live = self._plan_live(view, text, rec, mem, refused)
        if live is not None and not isinstance(live[0], Refuse):
            live = (*write, *live, *prune)
        pre: list[Step] = [*write]
        post: list[Step] = []
        first_start = current is None and not running
        if text != current and not first_start and refused is None:
            pre.append(CheckInBackground(text))
        loaded = running and rec.loaded == view.rendered.digest
        mark = MarkLoaded(text, names)
        if text == current and (loaded or not running):
            if running and mem.pending_deletes:
                post.append(RetryDeletes())
            if not running:
                post += [Start(), ForgetDeletes(), mark, Adopt(False)]
            elif view.applied is None:
                post.append(Adopt(True))  # a previous agent process started it; we only watch it
        elif first_start:
            post += [FirstStart(text, refused), ForgetDeletes(), mark, Adopt(False)]
        else:
            if text != current:
                restore = current if not running and current is not None else None
                restore_certs = _names_in(restore, rec.certs) if restore is not None else ()
                post += [Check(text, background=refused is None, refused=refused, restore=restore,
                               restore_certs=restore_certs), Swap()]  # fmt: skip
            post += [SaveServerState(), Reload()] if running else [Start()]
            post += [ForgetDeletes(), mark, Adopt(False)]
        post += prune  # only once the running HAProxy loaded the config that names none of them
        return UnitPlan(converged, live, tuple(pre), tuple(post))

    @staticmethod
    def _plan_live(
        view: UnitView, text: str, rec: HaproxyRecord, mem: HaproxyMemory, refused: str | None
    ) -> tuple[Step, ...] | None:
        """Only an LB this agent process already converged, with the same VIP, whose HAProxy loaded the
        file: its plumbing is not re-verified here (the periodic resync still runs the full path).

        Certificates: the text is checked before anything changes live (``haproxy -c`` loads the new
        PEM files, already written), so a refused one leaves the running process untouched."""
        current = rec.cfg
        last = view.applied
        if not rec.running or current is None or text == current:
            return None
        if last is None or last.vip != view.desired.vip:
            return None
        if rec.loaded != config_digest(current, _names_in(current, rec.certs)):
            return None  # the running HAProxy did not load the file (and the PEM files it names)
        names = tuple(sorted(k[len(CERTS):] for k in view.rendered.files if k.startswith(CERTS)))
        pems = {k[len(CERTS):]: v for k, v in view.rendered.files.items() if k.startswith(CERTS)}
        # what this process remembers, else what the process before it wrote for this very loaded config
        keys = mem.cert_keys or dict(rec.cert_keys or ())
        loaded = config_digest(text, names)
        swap = plan_cert_swap(current, text, keys=keys, pems=pems,
                              names={**sni_names(last), **sni_names(view.desired)})  # fmt: skip
        if swap is not None:
            if refused is not None:
                return (Refuse(refused),)
            return (Check(text), LiveApply(swap.commands), Swap(), MarkLoaded(text, names),
                    KeepCertKeys(swap.keys, loaded))  # fmt: skip
        commands = plan_runtime(current, text)  # server lines only: the same PEM files as ``current``
        if not commands:
            return None
        if refused is not None:
            return (Refuse(refused),)
        # the stores are unchanged, the loaded digest is not: the mapping is kept for the new one
        keep: tuple[Step, ...] = (KeepCertKeys(tuple(sorted(keys.items())), loaded),) if keys else ()
        return (LiveApply(tuple(commands)), CheckLive(text), Swap(), MarkLoaded(text, names), *keep,
                KeepPendingDeletes())  # fmt: skip

    # -------------------------------------------------------------- run

    def run(self, step: Any, ctx: RunContext) -> None:
        paths, ns = ctx.paths, ctx.ns
        mem: HaproxyMemory = ctx.unit_memory(self)
        p = self.process
        match step:
            case CheckInBackground(text=text):
                with self._lock:
                    if self._checker is None:
                        self._checker = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="haproxy-check")
                    future = self._checker.submit(p.check, text, paths)
                ctx.background.append(future)
                ctx.scratch["haproxy.checking"] = future
            case Check():
                self._check(step, ctx, mem)
            case Swap():
                p.swap(paths)
            case FirstStart():
                self._first_start(step, ctx, mem)
            case SaveServerState():
                self._save_state(paths)
            case Reload():
                paths.cert_keys.unlink(missing_ok=True)  # the new worker loads every file under its name
                p.reload(paths)
            case Start():
                paths.cert_keys.unlink(missing_ok=True)
                _align_saved_state(paths, _read(paths.cfg, strip=False))
                p.ensure_running(paths, ns)
            case MarkLoaded(text=text, certs=certs):
                _mark_loaded(paths, text, certs)
            case WriteCerts(names=names, contents=contents):
                _write_pem_files(paths.certs, dict(zip(names, contents, strict=True)))
            case PruneCerts(names=names):
                for name in names:
                    (paths.certs / name).unlink(missing_ok=True)
            case ForgetDeletes():
                _new_process(paths, mem)
            case RetryDeletes():
                self._retry_deletes(paths, mem)
            case Refuse(words=words):
                raise ConfigRejected(words)
            case LiveApply(commands=commands):
                ctx.scratch["haproxy.pending"] = self._live_apply(commands, paths)
            case CheckLive(text=text):
                try:
                    self._check(Check(text), ctx, mem)
                except ConfigRejected:
                    self._save_state(paths)
                    _new_process(paths, mem)
                    p.reload(paths)
                    raise
            case KeepCertKeys(keys=keys, loaded=loaded):
                mem.cert_keys = dict(keys)
                _write_cert_keys(paths, loaded, keys)
            case KeepPendingDeletes():
                mem.pending_deletes.update(ctx.scratch.get("haproxy.pending", ()))
            case _:
                raise TypeError(f"not a step of the HAProxy unit: {step!r}")

    def _check(self, step: Check, ctx: RunContext, mem: HaproxyMemory) -> None:
        """``haproxy -c`` the new text, once per distinct text: a refused text is remembered and refused
        again without running HAProxy (resyncs come every 30 s). When refused, the last good config
        keeps serving, and is started again if its HAProxy died meanwhile."""
        try:
            if step.refused is not None:
                raise ConfigRejected(step.refused)
            checking = ctx.scratch.pop("haproxy.checking", None) if step.background else None
            if checking is not None:
                checking.result()  # the check started in the background on this same text
            else:
                self.process.check(step.text, ctx.paths)
        except ConfigRejected as exc:
            mem.refused = (step.text, exc.output)
            if step.restore is not None:
                _new_process(ctx.paths, mem)
                _align_saved_state(ctx.paths, step.restore)
                self.process.ensure_running(ctx.paths, ctx.ns)
                _mark_loaded(ctx.paths, step.restore, step.restore_certs)
            raise
        mem.refused = None

    def _save_state(self, paths: LbPaths) -> None:
        """Before a reload: the servers' state for the process that loads haproxy.cfg as it now is (the new
        config once swapped; the live one when a live change is undone), admin state from that config."""
        self._save_server_state(paths, _read(paths.cfg, strip=False) or "")

    def _first_start(self, step: FirstStart, ctx: RunContext, mem: HaproxyMemory) -> None:
        if step.refused is not None:
            raise ConfigRejected(step.refused)
        p, paths = self.process, ctx.paths
        p.stage(step.text, paths)
        p.swap(paths)
        paths.cert_keys.unlink(missing_ok=True)
        _align_saved_state(paths, step.text)
        try:
            p.ensure_running(paths, ctx.ns)
        except HaproxyError:
            paths.cfg.unlink(missing_ok=True)  # unchecked: it is not a live config until HAProxy ran it
            self._check(Check(step.text), ctx, mem)  # raises ConfigRejected if refused
            p.swap(paths)  # checked after all: the failure was elsewhere; retried from here
            raise

    def _live_apply(self, commands: tuple[Command, ...], paths: LbPaths) -> set[str]:
        pending: set[str] = set()
        for cmd in commands:
            try:
                answer = self.process.runtime(paths, cmd.wire).strip()
            except Exception as exc:
                answer = f"<{exc}>"
            if cmd.accepts(answer):
                continue
            if cmd.best_effort:
                pending.add(cmd.text)
                continue
            log.warning("runtime change of %s failed at %r (%s); reloading instead", paths.lb_id, cmd.text, answer)
            raise NotLive(cmd.text)
        return pending

    def _retry_deletes(self, paths: LbPaths, mem: HaproxyMemory) -> None:
        """``del server`` for servers removed live that still had connections: retried on later passes
        until HAProxy takes it (they sit in maintenance meanwhile; a reload drops them too)."""
        for command in sorted(mem.pending_deletes):
            try:
                answer = self.process.runtime(paths, command).strip()
            except Exception as exc:
                log.debug("retry %r for %s: %s", command, paths.lb_id, exc)
                continue
            if answer in ("Server deleted.", "No such server."):
                mem.pending_deletes.discard(command)


def _new_process(paths: LbPaths, mem: HaproxyMemory) -> None:
    """A new process (or worker) loads the config: nothing to delete, no store named after another file."""
    mem.new_process()
    paths.cert_keys.unlink(missing_ok=True)


_STORE_PATH = re.compile(r'[^\s"\\$]+/[0-9a-f]{64}\.pem')  # as runtime_certs reads them from a config


def cert_keys_json(loaded: str, keys: Iterable[tuple[str, str]]) -> str:
    """``cert_keys.json``: the store of each PEM file (where not its own), for the config of digest ``loaded``."""
    return json.dumps({"loaded": loaded, "keys": sorted([path, store] for path, store in keys)})


def parse_cert_keys(text: str, loaded: str) -> tuple[tuple[str, str], ...] | None:
    """The mapping in ``cert_keys.json`` if it was written for the config of digest ``loaded``; None when
    it was not (stale: another config was loaded since) or does not parse as ours. The paths go into
    runtime commands, so each must be a PEM path as the renderer writes them."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("loaded") != loaded or not isinstance(data.get("keys"), list):
        return None
    out = []
    for pair in data["keys"]:
        if not (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(x, str) and _STORE_PATH.fullmatch(x) for x in pair)):  # fmt: skip
            return None
        out.append((pair[0], pair[1]))
    return tuple(sorted(out))


def _write_cert_keys(paths: LbPaths, loaded: str, keys: tuple[tuple[str, str], ...]) -> None:
    """``cert_keys.json`` replaced whole (0600, temporary file, fsync, rename); removed when there are none."""
    if not keys:
        paths.cert_keys.unlink(missing_ok=True)
        return
    tmp = paths.cert_keys.with_name("." + paths.cert_keys.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, cert_keys_json(loaded, keys).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, paths.cert_keys)


def _mark_loaded(paths: LbPaths, text: str, certs: Iterable[str] = ()) -> None:
    tmp = paths.loaded.with_suffix(".tmp")
    tmp.write_text(config_digest(text, certs))
    tmp.replace(paths.loaded)


def _align_saved_state(paths: LbPaths, text: str | None) -> None:
    """Before HAProxy starts (not reloads) on ``text``: a dump left by an earlier reload is loaded too, so
    its admin state is set from ``text`` first (``lbaas.agent.haproxy.server_state``)."""
    saved = read_file(paths.server_state)
    if saved is None or text is None:
        return
    aligned = align_admin_state(saved, text)
    if aligned != saved:
        tmp = paths.server_state.with_suffix(".tmp")
        tmp.write_text(aligned)
        tmp.replace(paths.server_state)


def _observe_certs(directory: Path) -> tuple[frozenset[str], bool]:
    """The file names in certs/ and whether it is 0700 (absent: none, and private)."""
    try:
        mode = os.stat(directory).st_mode
    except FileNotFoundError:
        return frozenset(), True
    return frozenset(os.listdir(directory)), stat.S_IMODE(mode) == 0o700


def _write_pem_files(directory: Path, files: Mapping[str, str]) -> None:
    """Certificates, keys, CA bundles and CRLs for HAProxy: 0700 directory, 0600 files, written whole."""
    directory.mkdir(mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    for name, content in files.items():
        target = directory / name
        if target.exists():
            os.chmod(target, 0o600)
            continue  # named by the digest of its content: present means right
        tmp = directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            data = memoryview(content.encode())
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)


__all__ = [
    "Check", "CheckInBackground", "CheckLive", "FirstStart", "ForgetDeletes", "HaproxyMemory", "HaproxyRecord",
    "HaproxyUnit", "KeepCertKeys", "KeepPendingDeletes", "LiveApply", "MarkLoaded", "PruneCerts", "Refuse", "Reload",
    "RetryDeletes", "SaveServerState", "Start", "Swap", "WriteCerts", "cert_keys_json", "config_digest",
    "parse_cert_keys",
]  # fmt: skip
