"""Shared fixtures: an app on a fresh database (SQLite, or PostgreSQL with --postgres runs), a client."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from lbaas.api.app import create_app
from lbaas.config import Settings
from lbaas.db.base import Base
from lbaas.db.migrate import upgrade
from lbaas.db.session import Database
from lbaas.providers.noop import NoopProvider
from lbaas.services import tokens
from lbaas.services.env import ServiceEnv

PG_ADMIN_URL = os.environ.get("LBAAS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _pg_available() -> bool:
    try:
        eng = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 2})
        with eng.connect() as c:
            c.execute(text("select 1"))
        eng.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_available() -> bool:
    return _pg_available()


def _pg_admin() -> Engine:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def _make_pg_db() -> tuple[str, str]:
    """A throwaway PostgreSQL database: (name, url). Drop it with ``_drop_pg_db``."""
    name = f"lbaas_test_{uuid.uuid4().hex[:10]}"
    with _pg_admin().connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    return name, PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_db(name: str) -> None:
    with _pg_admin().connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str | None]:
    """One migrated PostgreSQL database per session (CREATE/DROP DATABASE per test costs ~0.5 s)."""
    if not _pg_available():
        yield None
        return
    name, url = _make_pg_db()
    upgrade(url)
    yield url
    _drop_pg_db(name)


def _truncate_all(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    eng.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test gets a copy (running the migrations per test costs ~0.3 s)."""
    path = tmp_path_factory.mktemp("template") / "lbaas.sqlite"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, pg_database: str | None
) -> Iterator[str]:
    """A migrated, empty database: on SQLite a fresh file, on PostgreSQL the session's database, emptied after."""
    if request.param == "sqlite":
        target = tmp_path / "lbaas.sqlite"
        shutil.copyfile(sqlite_template, target)
        yield f"sqlite:///{target}"
        return
    if pg_database is None:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    try:
        yield pg_database
    finally:
        _truncate_all(pg_database)


@pytest.fixture
def auth_strategy() -> str:
    """The ``client`` fixture's auth strategy. Token mode, so tests can act as a project and roles (see
    ``IdentityClient``); a module overrides this fixture to test noauth."""
    return "token"


@pytest.fixture
def settings(tmp_path: Path, auth_strategy: str) -> Settings:
    return Settings(state_dir=tmp_path, provider="noop", auth_strategy=auth_strategy)


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    yield db
    db.dispose()


@pytest.fixture
def provider(database: Database) -> Iterator[NoopProvider]:
    prov = NoopProvider(database, hold=True, names=frozenset({"noop", "amphora", "octavia"}))
    yield prov
    prov.close()


@pytest.fixture
def app_env(settings: Settings, provider: NoopProvider) -> ServiceEnv:
    return ServiceEnv(settings=settings, providers={"noop": provider}, default_provider="noop")


class IdentityClient(TestClient):
    """A TestClient that acts as a project with roles through real tokens (token mode).

    A request is sent with a token from the app's database (made once per (project, roles) with the
    token service, checked by the real auth middleware): by default the administrator of the default
    project; ``X-Project-Id``/``X-Tenant-Id`` and ``X-Roles`` in a request's headers choose another
    identity (roles default to ``member``) and are replaced by that identity's ``X-Auth-Token``. A request
    that sets ``X-Auth-Token`` itself is sent as it is. In noauth mode headers pass unchanged.
    """

    default_project = "lbaas-default"

    def __init__(self, app: Any, database: Database, strategy: str, **kw: Any) -> None:
        super().__init__(app, **kw)
        self.database = database
        self.strategy = strategy
        self._tokens: dict[tuple[str, tuple[str, ...]], str] = {}

    def token_for(self, project: str, roles: Iterable[str] = ("member",)) -> str:
        key = (project, tuple(sorted({r.strip().lower() for r in roles if r.strip()})))
        if key not in self._tokens:
            with self.database.write() as s:
                _, self._tokens[key] = tokens.create(s, project_id=project, roles=list(key[1]))
        return self._tokens[key]

    def as_(self, project: str, *roles: str) -> dict[str, str]:
        """Headers that act as ``project`` with ``roles`` (default: member)."""
        return {"X-Auth-Token": self.token_for(project, roles or ("member",))}

    def request(self, method: str, url: Any, **kw: Any) -> Any:  # type: ignore[override]
        if self.strategy == "token":
            headers = {k.lower(): v for k, v in dict(kw.get("headers") or {}).items()}
            if "x-auth-token" not in headers:
                project = headers.pop("x-project-id", None) or headers.pop("x-tenant-id", None)
                roles = headers.pop("x-roles", None)
                if project is None and roles is None:
                    roles_list = ["admin"]
                else:
                    roles_list = [r for r in (roles or "member").split(",") if r.strip()]
                headers["x-auth-token"] = self.token_for(project or self.default_project, roles_list)
                kw["headers"] = headers
        return super().request(method, url, **kw)


@pytest.fixture
def client(database: Database, app_env: ServiceEnv, provider: NoopProvider) -> Iterator[IdentityClient]:
    database.on_commit = provider.nudge
    database.before_commit = app_env.validate_touched
    app = create_app(db=database, env=app_env)
    with IdentityClient(app, database, app_env.settings.auth_strategy, raise_server_exceptions=False) as c:
        yield c
