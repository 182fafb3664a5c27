"""API TLS: ``lbaas serve --tls-cert --tls-key`` answers HTTPS with that certificate, and only HTTPS.

The certificate is self-signed for 127.0.0.1, made here with ``cryptography``; the clients (httpx and the
stock ``openstack`` CLI through OS_CACERT) verify it against that certificate as their CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.clients.server import Server, running_server

pytestmark = [pytest.mark.clients, pytest.mark.timeout(300)]


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lbaas test api")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "api.crt", directory / "api.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    state = tmp_path_factory.mktemp("lbaas-tls")
    cert, key = self_signed(state)
    context = ssl.create_default_context(cafile=str(cert))
    with running_server(state, "--tls-cert", str(cert), "--tls-key", str(key), scheme="https", context=context) as srv:
        yield srv, cert


def test_https_with_the_configured_certificate(tls_server: tuple[Server, Path]) -> None:
    server, cert = tls_server
    assert server.url.startswith("https://")
    with httpx.Client(verify=ssl.create_default_context(cafile=str(cert)), timeout=30) as c:
        r = c.get(server.url + "/v2/lbaas/loadbalancers")
        assert r.status_code == 200 and r.json() == {"loadbalancers": [], "loadbalancers_links": []}
    # A client that does not trust the certificate refuses the connection.
    with pytest.raises(httpx.ConnectError), httpx.Client(timeout=30) as c:
        c.get(server.url + "/")
    # Plain HTTP on the TLS port gets no API answer.
    with pytest.raises(httpx.HTTPError), httpx.Client(timeout=30) as c:
        c.get(server.url.replace("https://", "http://") + "/v2/lbaas/loadbalancers").raise_for_status()


def test_stock_cli_over_https(tls_server: tuple[Server, Path]) -> None:
    server, cert = tls_server
    binary = str(Path(sys.executable).parent / "openstack")
    if not Path(binary).exists():
        binary = shutil.which("openstack") or pytest.skip("the openstack CLI is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(OS_AUTH_TYPE="none", OS_ENDPOINT=server.url, OS_CACERT=str(cert))
    out = subprocess.run([binary, "loadbalancer", "list", "-f", "json"], env=env, capture_output=True, text=True,
                         timeout=120, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
