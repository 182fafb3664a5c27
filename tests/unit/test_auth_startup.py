"""Auth settings that must not serve (noauth off loopback, half a TLS pair), durations, bind checks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lbaas.api.auth import bind_is_local, check_startup, strip_identity_headers, uvicorn_tls
from lbaas.api.listen import parse_mode
from lbaas.cli import app
from lbaas.config import Settings
from lbaas.domain import errors
from lbaas.services.tokens import parse_duration


@pytest.mark.parametrize(
    ("bind", "local"),
    [("127.0.0.1:9876", True), ("127.5.0.1:1", True), ("[::1]:9876", True), ("localhost:9876", True),
     ("unix:/run/lbaas.sock", True), ("0.0.0.0:9876", False), ("[::]:9876", False), ("10.0.0.5:9876", False),
     ("example.org:9876", False), (":9876", False)],
)  # fmt: skip
def test_bind_is_local(bind: str, local: bool) -> None:
    assert bind_is_local(bind) is local


def test_noauth_off_loopback_refuses_to_start() -> None:
    with pytest.raises(SystemExit, match="insecure-noauth"):
        check_startup(Settings(bind="0.0.0.0:9876", auth_strategy="noauth"))
    check_startup(Settings(bind="0.0.0.0:9876", auth_strategy="noauth", insecure_noauth=True))
    check_startup(Settings(bind="0.0.0.0:9876", auth_strategy="token"))
    check_startup(Settings(bind="127.0.0.1:9876", auth_strategy="noauth"))


def test_bad_strategy_and_keystone_without_url() -> None:
    with pytest.raises(SystemExit, match="unknown auth strategy"):
        check_startup(Settings(auth_strategy="trust-me"))
    with pytest.raises(SystemExit, match="KEYSTONE_AUTH_URL"):
        check_startup(Settings(auth_strategy="keystone"))


def test_tls_pair(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    with pytest.raises(SystemExit, match="go together"):
        check_startup(Settings(tls_cert=cert))
    with pytest.raises(SystemExit, match="does not exist"):
        check_startup(Settings(tls_cert=cert, tls_key=key))
    cert.write_text("x")
    key.write_text("y")
    check_startup(Settings(tls_cert=cert, tls_key=key))
    assert uvicorn_tls(Settings(tls_cert=cert, tls_key=key)) == {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    assert uvicorn_tls(Settings()) == {}


def test_cli_serve_refuses_noauth_on_any_address(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["serve", "--bind", "0.0.0.0:9", "--state-dir", str(tmp_path), "--provider", "noop"])
    assert r.exit_code != 0
    assert "refusing to serve with --auth-strategy noauth" in r.output


def test_cli_api_defaults_to_token(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Settings] = []
    monkeypatch.setattr("lbaas.distributed.run_api", lambda settings, log_level: seen.append(settings))
    monkeypatch.delenv("LBAAS_AUTH_STRATEGY", raising=False)
    assert CliRunner().invoke(app, ["api", "--bind", "0.0.0.0:9"]).exit_code == 0
    assert seen[-1].auth_strategy == "token"
    r = CliRunner().invoke(app, ["api", "--bind", "0.0.0.0:9", "--auth-strategy", "noauth"])
    assert r.exit_code != 0 and "insecure-noauth" in r.output
    monkeypatch.setenv("LBAAS_AUTH_STRATEGY", "noauth")
    assert CliRunner().invoke(app, ["api", "--bind", "127.0.0.1:9"]).exit_code == 0
    assert seen[-1].auth_strategy == "noauth"


@pytest.mark.parametrize(("text", "seconds"), [("30d", 2592000), ("12h", 43200), ("90m", 5400), ("45s", 45),
                                               ("3600", 3600), ("2w", 1209600)])  # fmt: skip
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "0", "-5d", "1y", "d", "10 days", "9999999999"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(errors.InvalidOption):
        parse_duration(text)


def test_identity_headers_are_stripped() -> None:
    headers = [(b"x-roles", b"admin"), (b"X-Project-Id", b"p"), (b"x-tenant-id", b"p"), (b"x-user-id", b"u"),
               (b"x-identity-status", b"Confirmed"), (b"x-service-roles", b"admin"), (b"x-auth-token", b"t"),
               (b"content-type", b"application/json"), (b"x-openstack-request-id", b"r")]  # fmt: skip
    assert strip_identity_headers(headers) == [(b"x-auth-token", b"t"), (b"content-type", b"application/json"),
                                               (b"x-openstack-request-id", b"r")]  # fmt: skip


@pytest.mark.parametrize(("text", "mode"), [("0600", 0o600), ("660", 0o660), ("0o640", 0o640)])
def test_unix_socket_modes(text: str, mode: int) -> None:
    assert parse_mode(text) == mode


@pytest.mark.parametrize("text", ["0666", "0604", "0400", "1600", "rw", ""])
def test_unix_socket_modes_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_mode(text)


def test_noauth_on_a_unix_socket_starts_checks_pass() -> None:
    check_startup(Settings(bind="unix:/run/lbaas/api.sock", auth_strategy="noauth"))
    with pytest.raises(SystemExit, match="absolute"):
        check_startup(Settings(bind="unix:api.sock", auth_strategy="noauth"))
    with pytest.raises(SystemExit, match="every local user"):
        check_startup(Settings(bind="unix:/run/lbaas/api.sock", unix_socket_mode="0666"))
