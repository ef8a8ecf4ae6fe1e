"""The api tier's helpers: transactions, the app as a TestClient, database access."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from fraud_api.app.core.config import Settings
from fraud_api.app.core.secrets import SecretReader
from fraud_api.app.main import create_app
from fraud_api.embedded_db import EmbeddedPostgres
from fraud_common.card import random_letters

TEST_PAN = "4111111111111111"
OTHER_PAN = "5555555555554444"
OUTAGE_DEADLINES: dict[str, Any] = {
    "DB_POOL_TIMEOUT_MS": 250,
    "DB_REQUEST_TIMEOUT_MS": 500,
    "DB_STATEMENT_TIMEOUT_MS": 500,
}
"""For tests that take the database away: short enough that a request answers 503 rather than wait
for it, long enough that a loaded machine does not time out a healthy query (make_settings' own
deadlines are seconds)."""


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def new_id(prefix: str = "tx") -> str:
    return f"{prefix}-{random_letters(16)}"


def transaction(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "transactionId": new_id(),
        "timestamp": iso(ago(minutes=1)),
        "customerId": new_id("cust"),
        "terminalId": new_id("term"),
        "amount": "42.50",
        "currency": "EUR",
        "cardNumber": TEST_PAN,
        "merchantCategoryCode": "5411",
        "channel": "pos",
    }
    body.update(overrides)
    return body


@contextmanager
def running_app(settings: Settings, secret_reader: SecretReader | None = None) -> Iterator[TestClient]:
    """The app with its lifespan (migrations, pool) running, as a TestClient."""
    with TestClient(create_app(settings, secret_reader=secret_reader), raise_server_exceptions=False) as client:
        yield client


@contextmanager
def password_login_role(pg: EmbeddedPostgres, role: str, password: str) -> Iterator[str]:
    """A login role that must authenticate with a password (scram), owning the database `rotation`;
    yields the socket directory (DB_HOST for libpq)."""
    hba = pg.data_dir / "pg_hba.conf"
    original = hba.read_text(encoding="utf-8")
    # pg_hba is first-match: this line ahead of the wheel's trust lines applies to `role` only.
    hba.write_text(f"local all {role} scram-sha-256\n" + original, encoding="utf-8")
    with psycopg.connect(pg.uri, autocommit=True) as conn:
        conn.execute(b"DROP DATABASE IF EXISTS rotation WITH (FORCE)")
        conn.execute(f"DROP ROLE IF EXISTS {role}".encode())
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'".encode())
        conn.execute(f"CREATE DATABASE rotation OWNER {role}".encode())
        # Migrations 002 and 004 create the cluster-wide service and export users, which this
        # unprivileged owner may not do: create them here (as RDS's master user would have),
        # whatever ran before in this cluster.
        for user in ("fraud_api", "fraud_export"):
            conn.execute(
                f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{user}') "
                f"THEN CREATE ROLE {user} LOGIN; END IF; END $$".encode()
            )
        conn.execute("SELECT pg_reload_conf()")
    try:
        yield str(pg.data_dir)
    finally:
        hba.write_text(original, encoding="utf-8")
        with psycopg.connect(pg.uri, autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")


def query(uri: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(uri, autocommit=True) as conn:
        return conn.execute(sql.encode(), params).fetchall()
