"""RabbitMQ with pika's blocking client, one connection per thread (pika connections are not thread-safe).

    <prefix>.nudge   direct exchange; routing key = agent host; body {"ids": [...]}
    <prefix>.resync  fanout exchange; body {"resync": true}

Each agent consumes from one exclusive, server-named queue bound to both, so a dead agent leaves no
queue behind and nothing piles up for it; what it missed, its resync on reconnect covers. Messages
are transient and the publisher does not wait for confirms: ids are cheap to lose.

Both sides reconnect forever with a short backoff and never raise into their callers: while the
broker is unreachable the API keeps answering and the agent keeps serving (fail-static), and the
periodic resync bounds the latency of anything published meanwhile.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterable
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

from lbaas.bus.base import NudgeHandler

log = logging.getLogger(__name__)


def parameters(url: str) -> pika.URLParameters:
    params = pika.URLParameters(url)
    params.heartbeat = 5  # a silently dropped path is noticed within ~10 s
    params.blocked_connection_timeout = 5
    params.socket_timeout = 2
    params.stack_timeout = 5
    params.connection_attempts = 1
    return params


def exchanges(prefix: str) -> tuple[str, str]:
    return f"{prefix}.nudge", f"{prefix}.resync"


def declare(ch: BlockingChannel, prefix: str) -> None:
    nudge, resync = exchanges(prefix)
    ch.exchange_declare(nudge, exchange_type="direct", durable=True)
    ch.exchange_declare(resync, exchange_type="fanout", durable=True)


class AmqpNudger:
    """Publishes from a background thread; ``publish`` only queues (never blocks an API request)."""

    def __init__(self, url: str, *, prefix: str = "lbaas") -> None:
        self._url = url
        self._prefix = prefix
        self._queue: queue.Queue[tuple[str, str, bytes] | None] = queue.Queue(maxsize=10000)
        self._conn: pika.BlockingConnection | None = None
        self._ch: BlockingChannel | None = None
        self.sent = 0
        self.connections = 0  # successful connects; every one after the first is a reconnect
        self._thread = threading.Thread(target=self._run, name="amqp-publisher", daemon=True)
        self._thread.start()

    def publish(self, host: str, lb_ids: Iterable[str]) -> None:
        ids = sorted(set(lb_ids))
        if ids:
            self._put((exchanges(self._prefix)[0], host, json.dumps({"ids": ids}).encode()))

    def resync_all(self) -> None:
        self._put((exchanges(self._prefix)[1], "", b'{"resync": true}'))

    def _put(self, item: tuple[str, str, bytes]) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            log.warning("nudge queue full, dropping a message (agents resync)")

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _channel(self) -> BlockingChannel:
        if self._ch is None or not self._ch.is_open:
            self._conn = pika.BlockingConnection(parameters(self._url))
            self._ch = self._conn.channel()
            declare(self._ch, self._prefix)
            self.connections += 1
        return self._ch

    def _drop(self) -> None:
        try:
            if self._conn is not None and self._conn.is_open:
                self._conn.close()
        except Exception:  # already broken
            pass
        self._conn = self._ch = None

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=1.0)
            except queue.Empty:
                if self._conn is not None:
                    try:
                        self._conn.process_data_events(time_limit=0)  # heartbeats
                    except Exception as exc:
                        log.info("AMQP publisher connection lost: %s", exc)
                        self._drop()
                continue
            if item is None:
                self._drop()
                return
            exchange, key, body = item
            try:
                self._channel().basic_publish(exchange, key, body, pika.BasicProperties(delivery_mode=1))
                self.sent += 1
            except Exception as exc:
                log.warning("AMQP publish to %s/%s failed (%s); agents will resync", exchange, key, exc)
                self._drop()


class AmqpConsumer:
    """The agent side: one thread that (re)connects, consumes, and calls the handler."""

    def __init__(
        self, url: str, *, host: str, handler: NudgeHandler, prefix: str = "lbaas", retry_max: float = 5.0
    ) -> None:
        self._url = url
        self._host = host
        self._handler = handler
        self._prefix = prefix
        self._retry_max = retry_max
        self._stop = threading.Event()
        self.connected = threading.Event()
        self.connections = 0
        self._thread = threading.Thread(target=self._run, name="amqp-consumer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _on_message(self, ch: BlockingChannel, method: Any, _props: Any, body: bytes) -> None:
        try:
            msg = json.loads(body)
            if msg.get("resync"):
                self._handler.resync()
            elif msg.get("ids"):
                self._handler.nudge([str(i) for i in msg["ids"]])
        except Exception as exc:  # a bad message must not kill the consumer
            log.warning("ignoring AMQP message %r: %s", body[:200], exc)

    def _consume_once(self) -> None:
        conn = pika.BlockingConnection(parameters(self._url))
        try:
            ch = conn.channel()
            declare(ch, self._prefix)
            q = ch.queue_declare("", exclusive=True, auto_delete=True).method.queue
            nudge, resync = exchanges(self._prefix)
            ch.queue_bind(q, nudge, routing_key=self._host)
            ch.queue_bind(q, resync)
            ch.basic_consume(q, self._on_message, auto_ack=True)
            self.connections += 1
            self.connected.set()
            log.info("AMQP: consuming nudges for %s", self._host)
            self._handler.resync()  # whatever was published while we were away
            while not self._stop.is_set():
                conn.process_data_events(time_limit=0.5)
        finally:
            self.connected.clear()
            try:
                if conn.is_open:
                    conn.close()
            except Exception:
                pass

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._consume_once()
                delay = 0.5
            except Exception as exc:
                log.warning("AMQP consumer for %s: %s; retrying in %.1fs (serving what runs)", self._host, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self._retry_max)
