"""Engines and sessions.

SQLite: WAL, foreign keys, a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions, so a
compare-and-set never meets a reader that later tries to upgrade its lock. The writers of one process
also queue on a lock before BEGIN: SQLite's busy handler polls with sleeps of up to 100 ms, so writers
that met at BEGIN IMMEDIATE waited whole seconds at the tail under concurrent writes (the busy timeout
still covers writers in other processes). Reads use a second engine with plain deferred
transactions. PostgreSQL: one engine; conditional UPDATEs are atomic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Straight to the driver: this runs for every transaction, and a statement through the engine
        # (events, result set-up) costs several times the BEGIN itself.
        conn.connection.driver_connection.execute(begin)

    return engine


NUDGE_KEY = "lbaas.nudge"


def nudge_after_commit(s: Session, lb_id: str) -> None:
    """Ask for lb_id to be reconciled once this transaction has committed (ids only, never state)."""
    s.info.setdefault(NUDGE_KEY, set()).add(lb_id)


class Database:
    """Owns the engines. ``write()`` and ``read()`` yield a session inside one transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = _sqlite_engine(url, immediate=True)
            self._read_engine = _sqlite_engine(url, immediate=False)
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
            # Reads in autocommit: under READ COMMITTED a transaction gives reads no snapshot beyond one
            # statement anyway, and BEGIN/COMMIT are two more round trips per request.
            self._read_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # (reentrant: a nested write in one thread fares as it did without the lock)
        self._write_lock: AbstractContextManager[Any] = threading.RLock() if self.is_sqlite else nullcontext()
        self._write = sessionmaker(self.engine, expire_on_commit=False)
        self._read = sessionmaker(self._read_engine, expire_on_commit=False)
        # Called with the LB ids a write touched, inside the transaction, just before commit: a place to
        # refuse what the provider cannot run (raising rolls everything back).
        self.before_commit: Callable[[Session, set[str]], None] | None = None
        # Called with the LB ids to reconcile after each committed write (wired to the provider/bus).
        self.on_commit: Callable[[set[str]], None] | None = None

    @contextmanager
    def write(self) -> Iterator[Session]:
        with self._write_lock, self._write() as session:
            with session.begin():
                yield session
                pending = session.info.get(NUDGE_KEY)
                if pending and self.before_commit is not None:
                    session.flush()
                    self.before_commit(session, pending)
            ids = session.info.pop(NUDGE_KEY, None)
        if ids and self.on_commit is not None:
            self.on_commit(ids)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session, session.begin():
            yield session

    @contextmanager
    def read_rows(self) -> Iterator[Connection]:
        """A Core connection inside one read transaction (one snapshot): for the hot read paths that build
        their answer from rows, without the ORM's identity map and instance set-up."""
        with self._read_engine.connect() as conn, conn.begin():
            yield conn

    @property
    def reads_block(self) -> bool:
        """Whether a read waits on anything but this process's CPU (a server round trip): then it belongs
        in a worker thread, not on an event loop. SQLite reads in WAL mode never wait for a writer."""
        return not self.is_sqlite

    def dispose(self) -> None:
        self.engine.dispose()
        if self.is_sqlite:
            self._read_engine.dispose()
