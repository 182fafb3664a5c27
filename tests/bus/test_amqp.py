"""The AMQP bus against the RabbitMQ on 127.0.0.1:5672: per-host routing, fanout resync, resync on connect.

Every test uses its own exchange prefix (``lbaas-test-<uuid>``) and deletes its exchanges afterwards;
consumer queues are exclusive and vanish with their connection.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator

import pika
import pytest

from lbaas.bus.amqp import AmqpConsumer, AmqpNudger, exchanges
from lbaas.tools.harness import port_open

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def _broker_up() -> bool:
    return port_open(5672)


pytestmark = pytest.mark.skipif(not _broker_up(), reason="RabbitMQ is not reachable on 127.0.0.1:5672")


class Recorder:
    def __init__(self) -> None:
        self.ids: list[str] = []
        self.resyncs = 0

    def nudge(self, lb_ids: Iterable[str]) -> None:
        self.ids.extend(lb_ids)

    def resync(self) -> None:
        self.resyncs += 1


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@pytest.fixture
def prefix() -> Iterator[str]:
    p = f"lbaas-test-{uuid.uuid4()}"
    yield p
    conn = pika.BlockingConnection(pika.URLParameters(URL))
    ch = conn.channel()
    for name in exchanges(p):
        ch.exchange_delete(name)
    conn.close()


def test_nudges_reach_only_their_host_and_resync_reaches_all(prefix: str) -> None:
    a, b = Recorder(), Recorder()
    consumers = [AmqpConsumer(URL, host=h, handler=r, prefix=prefix) for h, r in (("a", a), ("b", b))]
    for c in consumers:
        c.start()
    pub = AmqpNudger(URL, prefix=prefix)
    try:
        assert all(c.connected.wait(10) for c in consumers)
        assert a.resyncs == 1 and b.resyncs == 1  # a (re)connect starts with a resync
        pub.publish("a", ["lb-2", "lb-1"])
        pub.publish("zz", ["lb-9"])  # nobody listens: dropped by the broker
        assert wait_for(lambda: a.ids == ["lb-1", "lb-2"])
        pub.resync_all()
        assert wait_for(lambda: a.resyncs == 2 and b.resyncs == 2)
        assert b.ids == [] and pub.sent == 3
    finally:
        pub.close()
        for c in consumers:
            c.stop()


def test_consumer_survives_a_bad_message(prefix: str) -> None:
    a = Recorder()
    c = AmqpConsumer(URL, host="a", handler=a, prefix=prefix)
    c.start()
    try:
        assert c.connected.wait(10)
        conn = pika.BlockingConnection(pika.URLParameters(URL))
        ch = conn.channel()
        ch.basic_publish(exchanges(prefix)[0], "a", b"not json")
        ch.basic_publish(exchanges(prefix)[0], "a", b'{"ids": ["lb-1"]}')
        conn.close()
        assert wait_for(lambda: a.ids == ["lb-1"])
        assert c.connections == 1
    finally:
        c.stop()
