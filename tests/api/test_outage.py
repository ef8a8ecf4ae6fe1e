"""Database outage: fast 503s, nothing half-written, recovery without restarting the service.

These tests stop and restart their own PostgreSQL (same data directory and socket) under a
running app, so they do not disturb the tier's shared server.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from fastapi.testclient import TestClient

from fraud_api.app.core.config import Settings
from fraud_api.embedded_db import EmbeddedPostgres
from tests.api.utils import OUTAGE_DEADLINES, query, running_app, transaction
from tests.support.api_app import create_database, make_settings

# A liveness bound, not a speed one: a request must answer while the database is down or frozen
# rather than wait for it (which, frozen, is for ever). How fast it answers is the request deadline's
# business (DB_REQUEST_TIMEOUT_MS, 80 ms by default; benchmarks/recovery.py measures recovery).
NEVER_HANG_S = 5.0
RECOVERY_S = 20.0


@pytest.fixture(scope="module")
def own_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg-outage") / "data")
    server.start()
    server.disable_durability()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def outage_settings(own_pg: EmbeddedPostgres, model_path: Path) -> Settings:
    return make_settings(create_database(own_pg.uri, "outage"), model_path, **OUTAGE_DEADLINES)


def _timed_post(client: TestClient, path: str, body: dict[str, object]) -> tuple[float, int, dict[str, object]]:
    started = time.perf_counter()
    response = client.post(path, json=body)
    return time.perf_counter() - started, response.status_code, response.json()


def _assert_answered(elapsed: list[float]) -> None:
    assert max(elapsed) < NEVER_HANG_S, f"503 latencies (s): {sorted(round(e, 3) for e in elapsed)}"


def _wait_for(client: TestClient, path: str, deadline_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if client.get(path).status_code == 200:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{path} did not recover within {deadline_s} s")


def test_outage_database_down_answers_503_fast_and_recovers(
    own_pg: EmbeddedPostgres, outage_settings: Settings
) -> None:
    assert outage_settings.DATABASE_URL is not None
    url = outage_settings.DATABASE_URL.get_secret_value()
    with running_app(outage_settings) as client:
        # GIVEN a working service
        assert client.post("/api/v1/score", json=transaction()).status_code == 200
        # WHEN the database stops under it
        own_pg.stop("immediate")
        try:
            lost = [transaction() for _ in range(10)]
            outcomes = [_timed_post(client, "/api/v1/score", body) for body in lost]
            ready = client.get("/api/ready")
            health = client.get("/api/health")
            decision = client.get(f"/api/v1/decisions/{lost[0]['transactionId']}")
        finally:
            own_pg.start()
        # THEN every request got a JSON 503 instead of waiting, and liveness stayed green
        for _, status, body in outcomes:
            assert status == 503
            assert body["error"] == "database_unavailable"
        _assert_answered([elapsed for elapsed, _, _ in outcomes])
        assert ready.status_code == 503 and ready.headers["Retry-After"] == "1"
        assert decision.status_code == 503
        assert health.status_code == 200
        # AND once the database is back the same process serves again, by itself
        _wait_for(client, "/api/ready", RECOVERY_S)
        retried = client.post("/api/v1/score", json=lost[0])
        assert retried.status_code == 200
        assert "Idempotent-Replayed" not in retried.headers
    # AND nothing from the outage was half-written: only the retried transaction exists
    ids = [str(b["transactionId"]) for b in lost]
    stored = query(url, "SELECT transaction_id FROM transactions WHERE transaction_id = ANY(%s)", (ids,))
    assert stored == [(ids[0],)]


def _signal_server(pg: EmbeddedPostgres, sig: signal.Signals) -> None:
    """Send ``sig`` to the postmaster and every backend (SIGSTOP: a server that hangs)."""
    postmaster = psutil.Process(int((pg.data_dir / "postmaster.pid").read_text().split()[0]))
    for proc in [postmaster, *postmaster.children(recursive=True)]:
        proc.send_signal(sig)


def test_outage_database_hanging_answers_503_within_deadline_and_recovers(
    own_pg: EmbeddedPostgres, outage_settings: Settings
) -> None:
    with running_app(outage_settings) as client:
        # GIVEN a working service
        assert client.post("/api/v1/score", json=transaction()).status_code == 200
        # WHEN the database freezes: connections stay open but nothing answers (like a
        # blackholed network or a stuck server, where no error ever comes back)
        _signal_server(own_pg, signal.SIGSTOP)
        try:
            outcomes = [_timed_post(client, "/api/v1/score", transaction()) for _ in range(5)]
            started = time.perf_counter()
            ready = client.get("/api/ready")
            ready_elapsed = time.perf_counter() - started
        finally:
            _signal_server(own_pg, signal.SIGCONT)
        # THEN the service does not hang: the request deadline answers JSON 503s
        for _, status, body in outcomes:
            assert (status, body["error"]) == (503, "database_unavailable")
        _assert_answered([elapsed for elapsed, _, _ in outcomes])
        assert ready.status_code == 503 and ready_elapsed < NEVER_HANG_S
        # AND it serves again once the database thaws
        _wait_for(client, "/api/ready", RECOVERY_S)
        assert client.post("/api/v1/score", json=transaction()).status_code == 200


def test_outage_database_down_at_startup_comes_ready_when_it_returns(
    own_pg: EmbeddedPostgres, model_path: Path
) -> None:
    # GIVEN an empty database that is down when the service starts
    settings = make_settings(create_database(own_pg.uri, "late_start"), model_path, **OUTAGE_DEADLINES)
    own_pg.stop("fast")
    try:
        with running_app(settings) as client:
            # THEN the process is alive but not ready, and data endpoints answer 503 at once
            assert client.get("/api/health").status_code == 200
            assert client.get("/api/ready").status_code == 503
            outcomes = [_timed_post(client, "/api/v1/score", transaction()) for _ in range(3)]
            assert all((status, body["error"]) == (503, "database_unavailable") for _, status, body in outcomes)
            _assert_answered([elapsed for elapsed, _, _ in outcomes])
            # WHEN the database comes up THEN the migrations run in the background and it gets ready
            own_pg.start()
            _wait_for(client, "/api/ready", RECOVERY_S)
            assert client.post("/api/v1/score", json=transaction()).status_code == 200
    finally:
        own_pg.start()
