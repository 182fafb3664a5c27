"""Contract-test fixtures: ``cloud`` (client + held noop provider + database + a VIP subnet)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from lbaas.db.session import Database
from lbaas.providers.noop import NoopProvider
from tests.contract.helpers import Cloud, make_subnet
from tests.contract.personas import personas

__all__ = ["personas"]  # the fixture, for every contract test


@pytest.fixture
def cloud(client: TestClient, provider: NoopProvider, database: Database) -> Cloud:
    return Cloud(client=client, provider=provider, db=database, subnet_id=make_subnet(database))


@pytest.fixture
def stack(cloud: Cloud) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(lb, listener, pool): ACTIVE, HTTP:80, the pool is the listener's default."""
    return cloud.http_stack()
