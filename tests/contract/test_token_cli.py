"""``lbaas token create|list|revoke`` on the database named by --database-url (SQLite and PostgreSQL)."""

from __future__ import annotations

from typer.testing import CliRunner

from lbaas.cli import app
from lbaas.db.session import Database
from lbaas.services import tokens


def test_create_list_revoke(db_url: str) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["token", "create", "--project", "ops", "--role", "admin", "--role", "Member",
                               "--name", "first", "--expires-in", "30d", "--database-url", db_url])  # fmt: skip
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert token.startswith("lbaas-") and len(token.splitlines()) == 1
    db = Database(db_url)
    try:
        with db.read() as s:
            ident = tokens.validate(s, token)
        assert ident is not None and ident.project_id == "ops" and ident.roles == frozenset({"admin", "member"})
        listed = runner.invoke(app, ["token", "list", "--database-url", db_url])
        assert listed.exit_code == 0
        token_id = token.removeprefix("lbaas-").split(".")[0]
        row = next(line.split("\t") for line in listed.stdout.splitlines() if line.startswith(token_id))
        assert row[1:4] == ["first", "ops", "admin,member"] and row[-1] == "valid"
        assert token.split(".")[1] not in listed.stdout
        assert runner.invoke(app, ["token", "revoke", token_id, "--database-url", db_url]).exit_code == 0
        with db.read() as s:
            assert tokens.validate(s, token) is None
        listed = runner.invoke(app, ["token", "list", "--database-url", db_url])
        assert listed.stdout.splitlines()[-1].endswith("\trevoked")
        bad = runner.invoke(app, ["token", "revoke", "no-such-token", "--database-url", db_url])
        assert bad.exit_code != 0
        bad = runner.invoke(app, ["token", "create", "--project", "ops", "--role", "adm in", "--database-url", db_url])
        assert bad.exit_code != 0 and "invalid role" in bad.output
    finally:
        db.dispose()
