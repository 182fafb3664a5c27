"""The simulated cluster (``lbaas.tools.simcluster``) the e2e modules on simulated hosts share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lbaas.tools.simcluster import SimCluster, services_available


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> Iterator[SimCluster]:
    """One cluster per module, made from the module's ``CLUSTER`` (``SimCluster`` keyword arguments: its own
    prefix, hosts, VLAN and CIDR), with the tenant network (a client and two members); closed after the
    module's last test. Skips the module when the services it needs are missing."""
    why = services_available()
    if why:
        pytest.skip(why)
    c = SimCluster(**request.module.CLUSTER).start()
    try:
        c.make_tenant_network(members=2)
        yield c
    finally:
        c.close()
