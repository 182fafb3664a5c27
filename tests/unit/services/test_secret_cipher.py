"""The secret store's cipher and ref parsing (no database)."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from lbaas.domain import errors
from lbaas.services.secrets import FakeCipher, FernetCipher, parse_ref


def test_key_file_created_once_0600_and_reused(tmp_path: Path) -> None:
    key = tmp_path / "sub" / "secret.key"
    token = FernetCipher(key).encrypt(b"payload")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"payload" not in token
    assert FernetCipher(key).decrypt(token) == b"payload"  # a restart (or another API process) reads it back
    assert list(key.parent.iterdir()) == [key]  # no temporary file left behind


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    key = tmp_path / "secret.key"
    ciphers = [FernetCipher(key) for _ in range(8)]
    tokens: list[bytes] = []
    threads = [threading.Thread(target=lambda c=c: tokens.append(c.encrypt(b"x"))) for c in ciphers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in ciphers:
        assert all(c.decrypt(tok) == b"x" for tok in tokens)


def test_another_key_cannot_decrypt(tmp_path: Path) -> None:
    token = FernetCipher(tmp_path / "a.key").encrypt(b"x")
    with pytest.raises(errors.LbaasError):
        FernetCipher(tmp_path / "b.key").decrypt(token)


def test_fake_cipher_roundtrip() -> None:
    fake = FakeCipher()
    assert fake.decrypt(fake.encrypt(b"secret")) == b"secret"
    assert b"secret" not in fake.encrypt(b"secret")


@pytest.mark.parametrize(
    "ref",
    [
        "http://127.0.0.1:9876/v1/containers/0b4e6f7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
        "https://kms.example/key-manager/v1/secrets/0B4E6F7E-1C2D-4E5F-8A9B-0C1D2E3F4A5B/",
    ],
)
def test_refs_parsed_by_path(ref: str) -> None:
    parsed = parse_ref(ref)
    assert parsed.id == "0b4e6f7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b" and parsed.kind in ("containers", "secrets")


@pytest.mark.parametrize("ref", ["", "http://x/v1/containers/1", "http://x/v1/orders/0b4e6f7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
                                 "http://x/v1/secrets/0b4e6f7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b/payload"])  # fmt: skip
def test_bad_refs_are_400(ref: str) -> None:
    with pytest.raises(errors.ValidationError):
        parse_ref(ref)
