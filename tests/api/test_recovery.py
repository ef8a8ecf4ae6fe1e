"""Recovery without a restart: after a database restart, a failover and a password rotation the
same fraud-api process serves again by itself, and /api/ready says honestly when it cannot.

Each scenario keeps traffic flowing through the outage for longer than the pool's own reconnection
window (``DB_RECONNECT_TIMEOUT_S``), the case that used to leave the service at 503 for good: the
pool had given up every connection attempt, and the requests that timed out waiting for one kept
counting as "waiting", so every later request was refused before it could start a new attempt.
The time to the first 200 is measured from the moment the database accepts connections again;
the bound here is generous (shared CI cores), the figures are in benchmarks/recovery.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from fraud_api.app.core.config import Settings
from fraud_api.app.core.migrations import migrate
from fraud_api.embedded_db import EmbeddedPostgres
from tests.api.utils import OUTAGE_DEADLINES, password_login_role, query, running_app, transaction
from tests.support.api_app import API_CONFIG, create_database, make_settings

RECOVERY_BOUND_S = 15.0
OUTAGE_S = 3.0  # longer than the pool's reconnection window below
RECONNECT_WINDOW_S = 1.0
ROLE = "fraud_recovery"
FIRST, SECOND = "first-Password-77c1d0", "second-Password-3a90e4"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds-recovery"


@pytest.fixture(scope="module")
def primary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg-primary") / "data")
    server.start()
    server.disable_durability()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def standby(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A second server: the instance the cluster endpoint moves to in a failover."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg-standby") / "data")
    server.start()
    server.disable_durability()
    yield server
    server.cleanup()


def _traffic_during_outage(client: TestClient, seconds: float) -> list[int]:
    """Keep scoring (a client retrying) for ``seconds``; return the status codes."""
    statuses = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        statuses.append(client.post("/api/v1/score", json=transaction()).status_code)
        time.sleep(0.05)
    return statuses


def _time_to_first_200(client: TestClient, bound_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < bound_s:
        if client.post("/api/v1/score", json=transaction()).status_code == 200:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"no 200 within {bound_s} s of the database accepting connections again")


def test_recovery_after_database_restart_without_process_restart(primary: EmbeddedPostgres, model_path: Path) -> None:
    settings = make_settings(
        create_database(primary.uri, "restart"),
        model_path,
        DB_RECONNECT_TIMEOUT_S=RECONNECT_WINDOW_S,
        **OUTAGE_DEADLINES,
    )
    with running_app(settings) as client:
        # GIVEN a serving process
        assert client.post("/api/v1/score", json=transaction()).status_code == 200
        assert client.get("/api/ready").status_code == 200
        # WHEN PostgreSQL crashes and stays down while clients keep sending
        primary.stop("immediate")
        try:
            during = _traffic_during_outage(client, OUTAGE_S)
            ready_down = client.get("/api/ready").status_code
            health_down = client.get("/api/health").status_code
        finally:
            primary.start()
        # THEN it refused (503), was not ready, stayed alive
        assert set(during) == {503}
        assert (ready_down, health_down) == (503, 200)
        # AND it serves again by itself once PostgreSQL accepts connections, and is ready again
        _time_to_first_200(client, RECOVERY_BOUND_S)
        assert client.get("/api/ready").status_code == 200


def test_recovery_after_repeated_restarts(primary: EmbeddedPostgres, model_path: Path) -> None:
    # GIVEN a serving process
    settings = make_settings(
        create_database(primary.uri, "restarts"),
        model_path,
        DB_RECONNECT_TIMEOUT_S=RECONNECT_WINDOW_S,
        **OUTAGE_DEADLINES,
    )
    with running_app(settings) as client:
        assert client.post("/api/v1/score", json=transaction()).status_code == 200
        for _ in range(2):
            # WHEN the database goes away (clean shutdown this time) and comes back, twice
            primary.stop("fast")
            try:
                assert set(_traffic_during_outage(client, OUTAGE_S)) == {503}
            finally:
                primary.start()
            # THEN each time the process recovers by itself
            _time_to_first_200(client, RECOVERY_BOUND_S)


def _set_read_only(server: EmbeddedPostgres, read_only: bool) -> None:
    """Demote (writes refused with SQLSTATE 25006, as on a reader) or promote a server, live."""
    with psycopg.connect(server.uri, autocommit=True) as conn:
        value = "on" if read_only else "off"
        conn.execute(f"ALTER SYSTEM SET default_transaction_read_only = {value}".encode())
        conn.execute("SELECT pg_reload_conf()")


def test_recovery_after_failover_to_another_server(
    primary: EmbeddedPostgres, standby: EmbeddedPostgres, model_path: Path
) -> None:
    # GIVEN a cluster endpoint that can reach two servers (libpq multi-host, as the cluster DNS
    # name can resolve to either instance): the writer, and a reader that has the schema
    for server in (primary, standby):
        create_database(server.uri, "failover")
    with psycopg.connect(standby.database_uri("failover"), autocommit=True) as conn:
        migrate(conn)
    _set_read_only(standby, True)
    endpoint = f"postgresql://postgres:@/failover?host={primary.data_dir},{standby.data_dir}"
    settings = make_settings(endpoint, model_path, DB_RECONNECT_TIMEOUT_S=RECONNECT_WINDOW_S, **OUTAGE_DEADLINES)
    try:
        with running_app(settings) as client:
            assert client.post("/api/v1/score", json=transaction()).status_code == 200
            # WHEN the writer is demoted (its open connections now refuse writes) and, a moment
            # later, the reader is promoted
            _set_read_only(primary, True)
            during = _traffic_during_outage(client, 1.0)
            ready_during = client.get("/api/ready").status_code
            _set_read_only(standby, False)
            # THEN writes were refused with 503 (never 500), /api/ready said so
            assert set(during) == {503}
            assert ready_during == 503
            # AND the process drops the connections to the old writer and writes to the new one
            _time_to_first_200(client, RECOVERY_BOUND_S)
            assert client.get("/api/ready").status_code == 200
            moved = transaction()
            assert client.post("/api/v1/score", json=moved).status_code == 200
        stored = query(
            standby.database_uri("failover"),
            "SELECT count(*) FROM transactions WHERE transaction_id = %s",
            (moved["transactionId"],),
        )
        assert stored == [(1,)]
    finally:
        _set_read_only(primary, False)
        _set_read_only(standby, False)


@pytest.fixture
def password_role(primary: EmbeddedPostgres) -> Iterator[str]:
    with password_login_role(primary, ROLE, FIRST) as socket_dir:
        yield socket_dir


def test_recovery_after_password_rotation_with_late_secret(
    primary: EmbeddedPostgres, password_role: str, model_path: Path
) -> None:
    # GIVEN a service logging in with the RDS-style secret
    secret = {"value": json.dumps({"username": ROLE, "password": FIRST})}
    settings = Settings(
        ENVIRONMENT="local",
        DB_HOST=password_role,
        DB_NAME="rotation",
        DB_SECRET_ARN=SECRET_ARN,
        DB_SSLMODE="disable",
        DB_POOL_MIN_SIZE=1,
        DB_RECONNECT_TIMEOUT_S=RECONNECT_WINDOW_S,
        API_CONFIG_JSON=SecretStr(json.dumps(API_CONFIG)),
        MODEL_PATH=model_path,
        **OUTAGE_DEADLINES,
    )
    with running_app(settings, secret_reader=lambda _arn: secret["value"]) as client:
        assert client.post("/api/v1/score", json=transaction()).status_code == 200
        # WHEN the password changes in the database, its sessions are cut, and the secret still
        # holds the old password for a while (rotation between its setSecret and finishSecret)
        with psycopg.connect(primary.uri, autocommit=True) as admin:
            admin.execute(f"ALTER ROLE {ROLE} PASSWORD '{SECOND}'".encode())
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (ROLE,))
        during = _traffic_during_outage(client, OUTAGE_S)
        ready_during = client.get("/api/ready").status_code
        secret["value"] = json.dumps({"username": ROLE, "password": SECOND})
        # THEN it refused meanwhile, and serves again once the secret holds the new password
        assert set(during) == {503}
        assert ready_during == 503
        _time_to_first_200(client, RECOVERY_BOUND_S)
        assert client.get("/api/ready").status_code == 200
