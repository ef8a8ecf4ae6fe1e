"""Shared test helpers: transactions, a deterministic model artifact, settings, database access."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from fraud_api.app.core.config import Settings
from fraud_api.app.core.secrets import SecretReader
from fraud_api.app.main import create_app
from fraud_api.embedded_db import EmbeddedPostgres
from fraud_scoring.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION, LABEL_DELAY_DAYS

TEST_PAN = "4111111111111111"
OTHER_PAN = "5555555555554444"
PAN_KEY = "k" * 64
API_CONFIG = {
    "thresholds": {"review": 0.3, "decline": 0.8},
    "signingKey": "s" * 64,
    "panHashKeys": {"1": PAN_KEY},
    "panHashKeyVersion": "1",
}
MODEL_VERSION = "test-amount-tree-1"


def write_test_model(path: Path) -> Path:
    """A one-tree artifact scoring on the amount only, so decisions are predictable:

    amount <= 500 -> sigmoid(-3) = 0.047 (approve), <= 1000 -> 0.5 (review), else 0.953 (decline)
    with the thresholds above. It goes through fraud_scoring's real loader and validation.
    """
    amount = FEATURE_NAMES.index("amount")
    artifact = {
        "format": "fraud-scoring-model",
        "format_version": 1,
        "model_version": MODEL_VERSION,
        "model_type": "gradient_boosted_trees",
        "objective": "binary_logistic",
        "feature_schema_version": FEATURE_SCHEMA_VERSION,
        "label_delay_days": LABEL_DELAY_DAYS,
        "features": list(FEATURE_NAMES),
        "base_score": 0.0,
        "trees": [
            {
                "feature": [amount, amount],
                "threshold": [500.0, 1000.0],
                "left": [~0, ~1],
                "right": [1, ~2],
                "value": [-3.0, 0.0, 3.0],
            }
        ],
        "training": {"note": "test fixture"},
        "metrics": {},
        "created_at": "2026-01-01T00:00:00Z",
    }
    path.write_text(json.dumps(artifact), encoding="utf-8")
    return path


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def new_id(prefix: str = "tx") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


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


# Overrides for tests that check what is stored and answered, not the latency budget or load
# shedding (test_outage and test_overload cover those): on a loaded machine an 80 ms request
# budget or a 30 ms loop-lag limit answers spurious 503s, and a mutation run (make mutate) then
# cannot even collect its baseline. OVERLOAD_LAG_MS=0 turns shedding off.
UNHURRIED: dict[str, Any] = {
    "DB_POOL_TIMEOUT_MS": 5_000,
    "DB_REQUEST_TIMEOUT_MS": 10_000,
    "DB_STATEMENT_TIMEOUT_MS": 10_000,
    "OVERLOAD_LAG_MS": 0.0,
}


def make_settings(database_url: str, model_path: Path | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "ENVIRONMENT": "local",
        "DATABASE_URL": database_url,
        "DB_SSLMODE": "disable",
        "API_CONFIG_JSON": json.dumps(API_CONFIG),
        "MODEL_PATH": model_path,
        "DB_POOL_MIN_SIZE": 1,
        "DB_POOL_MAX_SIZE": 4,
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def running_app(settings: Settings, secret_reader: SecretReader | None = None) -> Iterator[TestClient]:
    """The app with its lifespan (migrations, pool) running, as a TestClient."""
    with TestClient(create_app(settings, secret_reader=secret_reader), raise_server_exceptions=False) as client:
        yield client


def create_database(admin_uri: str, name: str) -> str:
    """Create an empty database on the embedded server; return its URI."""
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    return admin_uri.replace("@/postgres?", f"@/{name}?")


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
        # Migration 002 creates the cluster-wide service user, which this unprivileged owner may
        # not do: create it here (as RDS's master user would have), whatever ran before.
        conn.execute(
            b"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fraud_api') "
            b"THEN CREATE ROLE fraud_api LOGIN; END IF; END $$"
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
