"""Settings come from defaults < config file < environment < flags, through the same function the CLI
uses; the committed docs/settings.md is what the model generates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lbaas import cli
from lbaas.config import DEFAULT_CONFIG, ConfigError, Settings, load_settings
from lbaas.tools import settings_doc


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for key in list(os.environ):
        if key.startswith("LBAAS_"):
            monkeypatch.delenv(key)
    return monkeypatch


def write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "lbaas.toml"
    f.write_text(text)
    return f


def test_order_file_env_flags(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    f = write(tmp_path, 'provider = "noop"\nbind = "127.0.0.1:1001"\nstate_dir = "/srv/a"\nagent_down_time = 7.5\n'
              '[physical_interface_mappings]\nphysnet1 = "eth9"\n')  # fmt: skip
    s = load_settings(f)
    assert (s.provider, s.bind, str(s.state_dir), s.agent_down_time) == ("noop", "127.0.0.1:1001", "/srv/a", 7.5)
    assert s.physical_interface_mappings == {"physnet1": "eth9"}
    clean_env.setenv("LBAAS_BIND", "127.0.0.1:1002")
    clean_env.setenv("LBAAS_STATE_DIR", "/srv/b")
    s = load_settings(f)
    assert (s.provider, s.bind, str(s.state_dir)) == ("noop", "127.0.0.1:1002", "/srv/b")
    s = load_settings(f, bind="127.0.0.1:1003", provider=None)
    assert (s.provider, s.bind, str(s.state_dir)) == ("noop", "127.0.0.1:1003", "/srv/b")
    clean_env.setenv("LBAAS_CONFIG", str(f))
    assert load_settings().provider == "noop"  # LBAAS_CONFIG names the file


def test_file_errors_are_one_clear_message(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="unknown setting.*provder"):
        load_settings(write(tmp_path, 'provder = "noop"\n'))
    with pytest.raises(ConfigError, match="lbaas.toml"):
        load_settings(write(tmp_path, "provider = \n"))
    if not DEFAULT_CONFIG.exists():  # the default file is optional
        assert load_settings().provider == Settings().provider


def test_log_targets_from_env_as_a_list(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LBAAS_TENANT_LOG_TARGETS", "192.0.2.1:10514, 192.0.2.2:10514")
    assert load_settings().tenant_log_targets == ["192.0.2.1:10514", "192.0.2.2:10514"]


def test_serve_takes_settings_in_the_documented_order(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    """`lbaas serve` (the CLI itself, up to the point where it would start serving)."""
    got: list[Settings] = []
    clean_env.setattr("lbaas.embedded.run_embedded", lambda settings, **_: got.append(settings))
    f = write(tmp_path, 'provider = "noop"\nbind = "127.0.0.1:1001"\nstate_dir = "/srv/file"\n')
    runner = CliRunner()

    def serve(*args: str, env: dict[str, Any] | None = None) -> Settings:
        r = runner.invoke(cli.app, ["--config", str(f), "serve", *args], env=env)
        assert r.exit_code == 0, r.output
        return got.pop()

    s = serve()
    assert (s.provider, s.bind, str(s.state_dir)) == ("noop", "127.0.0.1:1001", "/srv/file")
    s = serve(env={"LBAAS_PROVIDER": "haproxy", "LBAAS_BIND": "127.0.0.1:1002", "LBAAS_STATE_DIR": "/srv/env"})
    assert (s.provider, s.bind, str(s.state_dir)) == ("haproxy", "127.0.0.1:1002", "/srv/env")
    s = serve("--bind", "127.0.0.1:1003", "--state-dir", "/srv/flag", env={"LBAAS_BIND": "127.0.0.1:1002"})
    assert (s.provider, s.bind, str(s.state_dir)) == ("noop", "127.0.0.1:1003", "/srv/flag")


def test_version() -> None:
    r = CliRunner().invoke(cli.app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"lbaas {cli.__version__}"


def test_committed_reference_matches_the_model() -> None:
    assert settings_doc.DOC.read_text() == settings_doc.reference(), "run: lbaas config reference --write"


def test_every_setting_is_documented() -> None:
    comments = settings_doc.field_comments()
    missing = [n for n in Settings.model_fields if not (comments.get(n) or settings_doc.FALLBACK.get(n))]
    assert not missing, f"settings without a comment in lbaas/config.py: {missing}"


def test_command_settings_one_helper_for_serve_api_agent(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    f = write(tmp_path, 'insecure_noauth = true\n[physical_interface_mappings]\nphysnet1 = "eth9"\n')
    cli._CONFIG["path"] = f
    try:
        # a switch left off and an empty list are not flags: the file's values stay
        s = cli._command_settings({"insecure_noauth": False, "physical_interface_mappings": [], "bind": None})
        assert s.insecure_noauth is True and s.physical_interface_mappings == {"physnet1": "eth9"}
        s = cli._command_settings({"physical_interface_mappings": ["physnet2:eth3", "p3:vlan:x"]})
        assert s.physical_interface_mappings.items() & {"physnet2": "eth3", "p3": "vlan:x"}.items() == {("physnet2", "eth3"), ("p3", "vlan:x")}
        with pytest.raises(Exception, match="PHYSNET:IFACE"):
            cli._command_settings({"physical_interface_mappings": ["eth3"]})
        # lbaas api's own default (token) applies only when nothing chose a strategy
        assert cli._command_settings({}, default_auth="token").auth_strategy == "token"
        clean_env.setenv("LBAAS_AUTH_STRATEGY", "keystone")
        assert cli._command_settings({}, default_auth="token").auth_strategy == "keystone"
        assert cli._command_settings({"auth_strategy": "noauth"}, default_auth="token").auth_strategy == "noauth"
    finally:
        cli._CONFIG["path"] = None
