"""The stock ``openstack secret …`` commands (python-barbicanclient) against ``lbaas serve``'s secret store.

Same set-up as the README's: ``OS_AUTH_TYPE=none`` and ``OS_ENDPOINT`` = lbaas, which is then also the
key-manager endpoint (barbicanclient discovers the version at the root, then calls it unversioned).
"""

from __future__ import annotations

import pytest

from tests.clients.server import Server
from tests.clients.test_openstack_cli import OpenStack, lb, openstack, subnet  # noqa: F401  (module-scoped fixtures)
from tests.tlsutil import CA

pytestmark = [pytest.mark.clients, pytest.mark.timeout(600)]


def test_secret_store_list_get_delete(openstack: OpenStack, lbaas_server: Server) -> None:  # noqa: F811
    stored = openstack.json("secret", "store", "--name", "cli-s1", "--payload", "hello world")
    ref = stored["Secret href"]
    assert ref.startswith(f"{lbaas_server.url}/v1/secrets/")
    assert any(r["Secret href"] == ref for r in openstack.json("secret", "list"))
    assert openstack.json("secret", "get", ref)["Name"] == "cli-s1"
    assert openstack.json("secret", "get", "--payload", ref)["Payload"] == "hello world"
    openstack("secret", "delete", ref)
    assert all(r["Secret href"] != ref for r in openstack.json("secret", "list"))


def test_certificate_container_create(openstack: OpenStack, tmp_path_factory: pytest.TempPathFactory) -> None:  # noqa: F811
    leaf = CA().issue("www.example.com")
    d = tmp_path_factory.mktemp("pem")
    (d / "cert.pem").write_bytes(leaf.cert_pem)
    (d / "key.pem").write_bytes(leaf.key_pem)
    cert = openstack.json("secret", "store", "--name", "cli-cert", "--secret-type", "certificate",
                          "--payload-content-type", "text/plain", "--file", str(d / "cert.pem"))["Secret href"]  # fmt: skip
    key = openstack.json("secret", "store", "--name", "cli-key", "--secret-type", "private",
                         "--payload-content-type", "text/plain", "--file", str(d / "key.pem"))["Secret href"]  # fmt: skip
    assert openstack.json("secret", "get", "--payload", cert)["Payload"].startswith("-----BEGIN CERTIFICATE-----")
    made = openstack.json("secret", "container", "create", "--name", "cli-tls", "--type", "certificate",
                          "--secret", f"certificate={cert}", "--secret", f"private_key={key}")  # fmt: skip
    cref = made["Container href"]
    # (-f json fails inside barbicanclient for a container's datetime, whatever the server sends)
    shown = openstack("secret", "container", "get", cref, "-f", "value", "-c", "Type", "-c", "Certificate",
                      "-c", "Private Key").split()  # fmt: skip
    assert shown == ["certificate", cert, key]
    assert any(r["Container href"] == cref for r in openstack.json("secret", "container", "list"))
    openstack("secret", "container", "delete", cref)


def test_terminated_https_listener_from_stock_cli(
    openstack: OpenStack, lb: dict[str, object], tmp_path_factory: pytest.TempPathFactory  # noqa: F811
) -> None:
    """The README's flow: store certificate and key, make a container, create the listener with it."""
    leaf = CA().issue("www.example.com")
    d = tmp_path_factory.mktemp("flow")
    (d / "cert.pem").write_bytes(leaf.cert_pem)
    (d / "key.pem").write_bytes(leaf.key_pem)
    cert = openstack.json("secret", "store", "--name", "flow-cert", "--secret-type", "certificate",
                          "--payload-content-type", "text/plain", "--file", str(d / "cert.pem"))["Secret href"]  # fmt: skip
    key = openstack.json("secret", "store", "--name", "flow-key", "--secret-type", "private",
                         "--payload-content-type", "text/plain", "--file", str(d / "key.pem"))["Secret href"]  # fmt: skip
    cref = openstack.json("secret", "container", "create", "--name", "flow-tls", "--type", "certificate",
                          "--secret", f"certificate={cert}", "--secret", f"private_key={key}")["Container href"]  # fmt: skip
    li = openstack.json("loadbalancer", "listener", "create", "--name", "flow-https", "--protocol", "TERMINATED_HTTPS",
                        "--protocol-port", "443", "--default-tls-container-ref", cref, "--wait", str(lb["id"]))  # fmt: skip
    assert li["default_tls_container_ref"] == cref and li["provisioning_status"] == "ACTIVE"
    # a container whose key does not match is refused with the reason
    other = CA().issue("other.example.com")
    (d / "other.pem").write_bytes(other.key_pem)
    bad_key = openstack.json("secret", "store", "--name", "flow-bad", "--secret-type", "private",
                             "--payload-content-type", "text/plain", "--file", str(d / "other.pem"))["Secret href"]  # fmt: skip
    bad = openstack.json("secret", "container", "create", "--name", "flow-bad", "--type", "certificate",
                         "--secret", f"certificate={cert}", "--secret", f"private_key={bad_key}")["Container href"]  # fmt: skip
    err = openstack.fails("loadbalancer", "listener", "create", "--protocol", "TERMINATED_HTTPS", "--protocol-port",
                          "8443", "--default-tls-container-ref", bad, str(lb["id"]))  # fmt: skip
    assert "does not match" in err
