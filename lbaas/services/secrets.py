"""The secret store: Barbican-style secrets and containers, payloads encrypted at rest.

Rows belong to a project (``RequestContext.project_id``); administrators see every project. Reading
another project's secret or container is a 403 (it exists) rather than a 404, as Barbican answers.

Payloads are encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under one key
file, created at first use with mode 0600 (``Settings.secret_key_file``, default
``<state_dir>/secret.key``; in distributed mode every API process points at the same file). The
cipher sits behind ``Cipher`` so tests can use ``FakeCipher``.

``SecretStore`` also resolves TLS refs for the spec converter (``lbaas.db.to_spec.TlsResolver``):
a certificate container or a secret holding a PKCS#12 bundle → a checked ``TlsBundle``; a CA or CRL
ref → PEM.

Consumers. A load balancer is a consumer of every container and secret that one of its listeners or
pools refers to (``default_tls_container_ref``, ``sni_container_refs``, the client CA and CRL refs, a
pool's certificate, CA and CRL refs), from the commit that makes a listener or pool use the ref until
the commit after which nothing of the LB uses it (ref replaced, listener or pool deleted, LB deleted).
The consumers are derived from those refs when read (``lb_consumers``), not stored: they cannot drift
from what the LBs use, and no migration was needed. On the wire they take Barbican's shapes: a
container's ``{"name": "lbaas", "URL": <the LB's URL>}`` (as Octavia registers with its service name
and the LB's ref), a secret's ``{"service": "lbaas", "resource_type": "loadbalancer", "resource_id":
<LB id>}`` (Barbican 1.1 secret consumers). Consumers that clients register on a container themselves
are stored as before, next to them.

Deleting a container or secret that a listener or pool uses (directly, or a secret through a container)
is refused with 409, naming the user: Barbican itself refuses to delete a secret with consumers unless
forced, and allows deleting a container; Octavia then fails on the next change of that LB. Here no
load balancer can lose its material under it, so a later render never meets a ref that is gone.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import Session

from lbaas.config import Settings
from lbaas.db import models as m
from lbaas.domain import certs, errors

CONSUMER = "lbaas"  # the service name a load balancer consumes refs under
SECRET_TYPES = ("symmetric", "public", "private", "passphrase", "certificate", "opaque")
CONTAINER_TYPES = ("generic", "certificate", "rsa")
CERT_CONTAINER_NAMES = ("certificate", "private_key", "private_key_passphrase", "intermediates")
RSA_CONTAINER_NAMES = ("public_key", "private_key", "private_key_passphrase")
CONTENT_TYPES = ("text/plain", "application/octet-stream", "application/pkcs8", "application/pkix-cert")
MAX_PAYLOAD = 1 << 16  # Barbican's default max_allowed_secret_in_bytes is 10000; certificates need more
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_REF = re.compile(rf"^(?:.*/)?v1/(secrets|containers)/({_UUID})/?$")


class Cipher(Protocol):
    def encrypt(self, data: bytes) -> bytes: ...

    def decrypt(self, token: bytes) -> bytes: ...


class FernetCipher:
    """Fernet under a key file created on first use (0600, never overwritten)."""

    def __init__(self, key_file: Path) -> None:
        self.key_file = Path(key_file)
        self._fernet: Fernet | None = None
        self._lock = threading.Lock()

    def _key(self) -> Fernet:
        with self._lock:
            if self._fernet is None:
                self._fernet = Fernet(_load_or_create_key(self.key_file))
            return self._fernet

    def encrypt(self, data: bytes) -> bytes:
        return self._key().encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._key().decrypt(token)
        except InvalidToken as exc:
            raise errors.LbaasError("A stored secret cannot be decrypted with this key file.") from exc


def _load_or_create_key(path: Path) -> bytes:
    """The key in ``path``; created atomically with mode 0600 if absent (several processes may race)."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, Fernet.generate_key() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process won: then theirs is the key
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes().strip()


class FakeCipher:
    """For tests: reversible, visibly not plaintext, no key file."""

    PREFIX = b"fake:"

    def encrypt(self, data: bytes) -> bytes:
        return self.PREFIX + bytes(b ^ 0x5A for b in data)

    def decrypt(self, token: bytes) -> bytes:
        if not token.startswith(self.PREFIX):
            raise errors.LbaasError("not a FakeCipher token")
        return bytes(b ^ 0x5A for b in token[len(self.PREFIX) :])


@dataclass(frozen=True)
class _Scope:
    """Who reads a TLS ref when a spec is built: the load balancer's project."""

    project_id: str
    is_admin: bool = False


@dataclass(frozen=True)
class Ref:
    kind: str  # "secrets" | "containers"
    id: str


def parse_ref(ref: str) -> Ref:
    """A Barbican ref (``http://host:port/v1/containers/<uuid>``): the host part is not ours to judge
    (several API processes, proxies), the path is."""
    match = _REF.match(ref.strip()) if isinstance(ref, str) else None
    if match is None:
        raise errors.ValidationError(f"{ref!r} is not a secret or container reference (…/v1/secrets/<uuid>).")
    return Ref(match.group(1), match.group(2).lower())


def _payload_bytes(payload: str, content_type: str | None, encoding: str | None) -> tuple[bytes, str]:
    ctype = (content_type or "text/plain").split(";")[0].strip().lower()
    if ctype not in CONTENT_TYPES:
        raise errors.InvalidOption(f"Provided transport content type '{content_type}' is not supported.")
    if ctype == "text/plain":
        if encoding:
            raise errors.InvalidOption("payload_content_encoding is not allowed for text/plain payloads.")
        try:
            data = payload.encode()
        except UnicodeEncodeError as exc:
            raise errors.InvalidOption("The payload is not valid Unicode text.") from exc
    else:
        if (encoding or "").lower() != "base64":
            raise errors.InvalidOption(
                f"payload_content_encoding must be 'base64' for payload_content_type {ctype}."
            )
        try:
            data = base64.b64decode(payload.encode(), validate=True)
        except (binascii.Error, ValueError) as exc:  # UnicodeEncodeError is a ValueError
            raise errors.InvalidOption("The payload is not valid base64.") from exc
    if not data:
        raise errors.InvalidOption("If 'payload' is specified, it must not be empty.")
    if len(data) > MAX_PAYLOAD:
        raise errors.InvalidOption(f"The secret payload is larger than {MAX_PAYLOAD} bytes.")
    return data, ctype


class SecretStore:
    CACHE_SIZE = 1024

    def __init__(self, cipher: Cipher) -> None:
        self.cipher = cipher
        # Resolved TLS material by (what, ref id, project): secrets and containers never change once they
        # hold data (no update API; a payload is set once), so a resync of many TLS LBs does not decrypt
        # and parse every certificate again. A hit is used only while its rows still exist (primary-key
        # reads), so a deleted secret or container is never accepted from the cache.
        self._cache: dict[tuple[str, str, str], Any] = {}
        self._cache_lock = threading.Lock()

    def _cached(self, s: Session, what: str, ref: str, project_id: str, build: Any) -> Any:
        parsed = parse_ref(ref)
        key = (what, parsed.id, project_id)
        with self._cache_lock:
            hit = self._cache.get(key)
        if hit is not None and _rows_exist(s, parsed):
            return hit
        value = build()
        with self._cache_lock:
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = value
        return value

    # --- secrets ----------------------------------------------------------------------------------

    def create_secret(self, s: Session, ctx: Any, data: dict[str, Any]) -> m.Secret:
        secret_type = data.get("secret_type") or "opaque"
        if secret_type not in SECRET_TYPES:
            raise errors.InvalidOption(f"Invalid secret_type {secret_type!r}.")
        row = m.Secret(
            id=m.new_id(),
            project_id=ctx.project_id,
            name=data.get("name"),
            secret_type=secret_type,
            algorithm=data.get("algorithm"),
            bit_length=data.get("bit_length"),
            mode=data.get("mode"),
            expiration=data.get("expiration"),
            creator_id=getattr(ctx, "user_id", None),
            status="ACTIVE",
        )
        payload = data.get("payload")
        if payload is not None:
            raw, ctype = _payload_bytes(payload, data.get("payload_content_type"), data.get("payload_content_encoding"))
            row.payload = self.cipher.encrypt(raw)
            row.payload_content_type = ctype
        elif data.get("payload_content_type") or data.get("payload_content_encoding"):
            raise errors.InvalidOption("payload_content_type and encoding need a payload.")
        s.add(row)
        s.flush()
        return row

    def put_payload(self, s: Session, ctx: Any, secret_id: str, body: bytes, content_type: str | None,
                    encoding: str | None) -> None:  # fmt: skip
        row = self.get_secret(s, ctx, secret_id)
        if row.payload is not None:
            raise errors.Conflict("Secret already has data, cannot modify it.")
        ctype = (content_type or "text/plain").split(";")[0].strip().lower()
        if ctype == "application/octet-stream" and (encoding or "").lower() != "base64":
            raw = body  # raw binary upload
            if not raw or len(raw) > MAX_PAYLOAD:
                raise errors.InvalidOption("The payload is empty or too large.")
        else:
            try:
                text = body.decode()
            except UnicodeDecodeError as exc:
                raise errors.InvalidOption("The payload is not valid text.") from exc
            raw, ctype = _payload_bytes(text, ctype, encoding)
        row.payload = self.cipher.encrypt(raw)
        row.payload_content_type = ctype
        row.updated_at = m.utcnow()

    def get_secret(self, s: Session, ctx: Any, secret_id: str) -> m.Secret:
        return _owned(s, ctx, m.Secret, secret_id, "Secret")

    def payload(self, s: Session, ctx: Any, secret_id: str) -> tuple[bytes, str]:
        row = self.get_secret(s, ctx, secret_id)
        return self._plain(row)

    def _plain(self, row: m.Secret) -> tuple[bytes, str]:
        if row.payload is None:
            raise errors.NotFound("Secret payload for", row.id)
        return self.cipher.decrypt(row.payload), row.payload_content_type or "application/octet-stream"

    def list_secrets(self, s: Session, ctx: Any, *, limit: int, offset: int, name: str | None,
                     secret_type: str | None = None) -> tuple[list[m.Secret], int]:  # fmt: skip
        return _page(s, ctx, m.Secret, limit, offset, name=name, secret_type=secret_type)

    def delete_secret(self, s: Session, ctx: Any, secret_id: str) -> None:
        row = self.get_secret(s, ctx, secret_id)
        holders = s.scalars(
            select(m.SecretContainer.id).where(cast(m.SecretContainer.secret_refs, String).like(f"%{row.id}%"))
        ).all()
        for ident in (row.id, *holders):
            _refuse_if_in_use(s, ident, f"Secret {row.id}")
        s.delete(row)

    # --- containers -------------------------------------------------------------------------------

    def create_container(self, s: Session, ctx: Any, data: dict[str, Any]) -> m.SecretContainer:
        ctype = data.get("type") or "generic"
        if ctype not in CONTAINER_TYPES:
            raise errors.InvalidOption(f"Invalid container type {ctype!r}.")
        refs: list[dict[str, str]] = []
        seen: set[str] = set()
        for item in data.get("secret_refs") or []:
            name = item.get("name") or ""
            if ctype != "generic" and name in seen:
                raise errors.InvalidOption(f"Duplicate reference names are not allowed: {name}.")
            seen.add(name)
            ref = parse_ref(item.get("secret_ref") or "")
            if ref.kind != "secrets":
                raise errors.InvalidOption(f"{item.get('secret_ref')!r} is not a secret reference.")
            self.get_secret(s, ctx, ref.id)  # must exist and be readable by the caller
            refs.append({"name": name, "secret_id": ref.id})
        allowed = {"certificate": CERT_CONTAINER_NAMES, "rsa": RSA_CONTAINER_NAMES}.get(ctype)
        if allowed is not None:
            bad = sorted(seen - set(allowed))
            if bad:
                raise errors.InvalidOption(f"Invalid secret reference names for a {ctype} container: {bad}.")
            required = "certificate" if ctype == "certificate" else "public_key"
            if required not in seen:
                raise errors.InvalidOption(f"A {ctype} container needs a '{required}' secret reference.")
        row = m.SecretContainer(
            id=m.new_id(),
            project_id=ctx.project_id,
            name=data.get("name"),
            type=ctype,
            status="ACTIVE",
            creator_id=getattr(ctx, "user_id", None),
            secret_refs=refs,
            consumers=[],
        )
        s.add(row)
        s.flush()
        return row

    def get_container(self, s: Session, ctx: Any, container_id: str) -> m.SecretContainer:
        return _owned(s, ctx, m.SecretContainer, container_id, "Container")

    def list_containers(self, s: Session, ctx: Any, *, limit: int, offset: int, name: str | None,
                        ctype: str | None = None) -> tuple[list[m.SecretContainer], int]:  # fmt: skip
        return _page(s, ctx, m.SecretContainer, limit, offset, name=name, type=ctype)

    def delete_container(self, s: Session, ctx: Any, container_id: str) -> None:
        row = self.get_container(s, ctx, container_id)
        _refuse_if_in_use(s, row.id, f"Container {row.id}")
        s.delete(row)

    def add_consumer(self, s: Session, ctx: Any, container_id: str, name: str, url: str) -> m.SecretContainer:
        row = self.get_container(s, ctx, container_id)
        if not name or not url:
            raise errors.InvalidOption("A consumer needs a name and a URL.")
        consumers = [c for c in row.consumers if c != {"name": name, "URL": url}]
        row.consumers = consumers + [{"name": name, "URL": url}]
        return row

    def remove_consumer(self, s: Session, ctx: Any, container_id: str, name: str, url: str) -> m.SecretContainer:
        row = self.get_container(s, ctx, container_id)
        wanted = {"name": name, "URL": url}
        lb = next((lb for lb in self.lb_consumers(s, [row]).get(row.id, ()) if url.endswith(f"/loadbalancers/{lb}")),
                  None)  # fmt: skip
        if name == CONSUMER and lb is not None and wanted not in row.consumers:
            raise errors.Conflict(f"Load balancer {lb} uses container {row.id}: it stops being a consumer when "
                                  "none of its listeners and pools refers to the container any more.")  # fmt: skip
        if wanted not in row.consumers:
            raise errors.NotFound("Consumer", f"{name} {url}")
        row.consumers = [c for c in row.consumers if c != wanted]
        return row

    def lb_consumers(self, s: Session, rows: list[Any]) -> dict[str, list[str]]:
        """Container or secret id → the load balancers (ids, sorted) whose listeners or pools refer to it
        now (neither they nor their LB being deleted). Two queries, whatever the number of rows."""
        wanted = {row.id for row in rows}
        projects = {row.project_id for row in rows}
        out: dict[str, set[str]] = {}
        if not wanted:
            return {}
        gone = ("PENDING_DELETE", "DELETED")
        for model, columns in _REF_COLUMNS:
            q = (
                select(model.loadbalancer_id, *(getattr(model, col) for col in columns))
                .join(m.LoadBalancer, m.LoadBalancer.id == model.loadbalancer_id)
                .where(model.project_id.in_(projects), model.provisioning_status.notin_(gone),
                       m.LoadBalancer.provisioning_status.notin_(gone))
            )  # fmt: skip
            for lb_id, *values in s.execute(q):
                for value in values:
                    for ref in value if isinstance(value, list) else [value]:
                        match = _REF.match(ref.strip()) if isinstance(ref, str) else None
                        if match is not None and match.group(2).lower() in wanted:
                            out.setdefault(match.group(2).lower(), set()).add(lb_id)
        return {ident: sorted(lbs) for ident, lbs in out.items()}

    # --- TLS refs (validation with the caller's rights, resolution for the spec) ------------------

    def check_tls_ref(self, s: Session, ctx: Any, ref: str) -> certs.TlsBundle:
        """A certificate container or PKCS#12 secret the caller may read → a checked bundle (400 if not)."""
        return self._bundle(s, ctx, ref)

    def check_ca_ref(self, s: Session, ctx: Any, ref: str) -> str:
        return self._pem_of(s, ctx, ref, certs.parse_ca, "CA certificate")

    def check_crl_ref(self, s: Session, ctx: Any, ref: str) -> str:
        return self._pem_of(s, ctx, ref, certs.parse_crl, "CRL")

    # TlsResolver (lbaas.db.to_spec): a load balancer may use only the refs of its own project.
    def bundle(self, s: Session, ref: str, project_id: str) -> certs.TlsBundle:
        bundle: certs.TlsBundle = self._cached(s, "bundle", ref, project_id,
                                               lambda: self._bundle(s, _Scope(project_id), ref))  # fmt: skip
        return bundle

    def ca(self, s: Session, ref: str, project_id: str) -> str:
        pem: str = self._cached(
            s, "ca", ref, project_id, lambda: self._pem_of(s, _Scope(project_id), ref, certs.parse_ca, "CA certificate")
        )
        return pem

    def crl(self, s: Session, ref: str, project_id: str) -> str:
        pem: str = self._cached(
            s, "crl", ref, project_id, lambda: self._pem_of(s, _Scope(project_id), ref, certs.parse_crl, "CRL")
        )
        return pem

    def _read(self, s: Session, ctx: Any, secret_id: str) -> bytes:
        row = _owned(s, ctx, m.Secret, secret_id, "Secret") if ctx is not None else s.get(m.Secret, secret_id)
        if row is None:
            raise errors.ValidationError(f"Secret {secret_id} does not exist.")
        return self._plain(row)[0]

    def _container(self, s: Session, ctx: Any, container_id: str) -> m.SecretContainer:
        """A container as ``ctx`` may read it (None: any project, the LB's own refs at spec time)."""
        row = (_owned(s, ctx, m.SecretContainer, container_id, "Container") if ctx is not None
               else s.get(m.SecretContainer, container_id))  # fmt: skip
        if row is None:
            raise errors.ValidationError(f"Container {container_id} does not exist.")
        return row

    def _bundle(self, s: Session, ctx: Any, ref: str) -> certs.TlsBundle:
        parsed = _ref_or_400(ref)
        try:
            if parsed.kind == "secrets":
                return certs.parse_pkcs12(self._read(s, ctx, parsed.id))
            container = self._container(s, ctx, parsed.id)
            parts = {r["name"]: r["secret_id"] for r in container.secret_refs}
            if "certificate" not in parts:
                raise errors.ValidationError(f"Container {ref} holds no 'certificate' secret.")
            passphrase = self._read(s, ctx, parts["private_key_passphrase"]) if "private_key_passphrase" in parts else None
            key = self._read(s, ctx, parts["private_key"]) if "private_key" in parts else None
            inter = self._read(s, ctx, parts["intermediates"]) if "intermediates" in parts else None
            return certs.build_bundle(self._read(s, ctx, parts["certificate"]), key, inter, passphrase)
        except (errors.NotFound, errors.Forbidden) as exc:
            raise errors.ValidationError(f"Could not retrieve certificate: {ref}: {exc.user_message}") from exc
        except certs.CertificateError as exc:
            raise errors.ValidationError(f"Could not use the TLS reference {ref}: {exc}") from exc

    def _pem_of(self, s: Session, ctx: Any, ref: str, parse: Any, what: str) -> str:
        parsed = _ref_or_400(ref)
        try:
            if parsed.kind == "secrets":
                data = self._read(s, ctx, parsed.id)
            else:
                container = self._container(s, ctx, parsed.id)
                if not container.secret_refs:
                    raise errors.ValidationError(f"Container {ref} holds no secret.")
                first = next((r for r in container.secret_refs if r["name"] == "certificate"), container.secret_refs[0])
                data = self._read(s, ctx, first["secret_id"])
            pem: str = parse(data)
            return pem
        except (errors.NotFound, errors.Forbidden) as exc:
            raise errors.ValidationError(f"Could not retrieve the {what}: {ref}: {exc.user_message}") from exc
        except certs.CertificateError as exc:
            raise errors.ValidationError(f"The {what} {ref} is not usable: {exc}") from exc


def store_for(settings: Settings) -> SecretStore:
    """The store of this deployment: Fernet under ``secret_key_file`` (default ``<state_dir>/secret.key``)."""
    return SecretStore(FernetCipher(settings.secret_key_file or settings.state_dir / "secret.key"))


_REF_COLUMNS = (
    (m.Listener, ("default_tls_container_ref", "sni_container_refs", "client_ca_tls_container_ref",
                  "client_crl_container_ref")),
    (m.Pool, ("tls_container_ref", "ca_tls_container_ref", "crl_container_ref")),
)  # fmt: skip


def _rows_exist(s: Session, ref: Ref) -> bool:
    if ref.kind == "secrets":
        return s.get(m.Secret, ref.id) is not None
    container = s.get(m.SecretContainer, ref.id)
    return container is not None and all(s.get(m.Secret, r["secret_id"]) is not None for r in container.secret_refs)


def _refuse_if_in_use(s: Session, ident: str, what: str) -> None:
    """409 while a listener or pool (not being deleted) refers to ``ident`` (directly or through a container):
    deleting it would leave a load balancer that cannot be changed until the ref is replaced."""
    for model, columns in _REF_COLUMNS:
        refs = or_(*(cast(getattr(model, col), String).like(f"%{ident}%") for col in columns))
        user = s.scalars(
            select(model.id).where(refs, model.provisioning_status.notin_(("PENDING_DELETE", "DELETED"))).limit(1)
        ).first()
        if user is not None:
            kind = "listener" if model is m.Listener else "pool"
            raise errors.Conflict(f"{what} is in use by {kind} {user}; change its TLS references first.")


def _page(s: Session, ctx: Any, model: Any, limit: int, offset: int, **equal: str | None) -> tuple[list[Any], int]:
    """One page of ``model`` rows the caller may see (their project's; all for an admin), oldest first,
    filtered on each column of ``equal`` that has a value, and the total without the page."""
    q = select(model)
    if not ctx.is_admin:
        q = q.where(model.project_id == ctx.project_id)
    for column, value in equal.items():
        if value:
            q = q.where(getattr(model, column) == value)
    total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = s.scalars(q.order_by(model.created_at, model.id).offset(offset).limit(limit)).all()
    return list(rows), total


def _ref_or_400(ref: str) -> Ref:
    return parse_ref(ref)


def _owned(s: Session, ctx: Any, model: Any, ident: str, what: str) -> Any:
    row = s.get(model, ident.lower()) if re.fullmatch(_UUID, ident or "") else None
    if row is None:
        raise errors.NotFound(what, ident)
    if not (ctx.is_admin or row.project_id == ctx.project_id):
        raise errors.Forbidden(f"{what} {ident} belongs to another project.")
    return row


def expiration(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise errors.InvalidOption(f"Invalid expiration {value!r}.") from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed
