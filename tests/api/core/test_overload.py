"""Load shedding on event-loop lag."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from fastapi.testclient import TestClient

from fraud_api.app.api import errors
from fraud_api.app.core.overload import LoopLagMonitor, Overloaded
from tests.api.utils import transaction


def test_overload_monitor_sheds_while_loop_is_behind_and_recovers() -> None:
    async def scenario() -> tuple[bool, float, bool]:
        monitor = LoopLagMonitor(limit_ms=30.0)
        await monitor.start()
        await asyncio.sleep(0.05)
        monitor.admit()  # GIVEN an idle loop: admitted
        # WHEN the loop is blocked for 120 ms (a CPU-starved worker)
        time.sleep(0.12)
        await asyncio.sleep(0)  # let the late timer fire and record the lag
        await asyncio.sleep(0.001)
        try:
            monitor.admit()
            shed = False
        except Overloaded:
            shed = True
        lag = monitor.lag_ms
        # THEN, once the loop keeps up again, work is admitted again (within seconds: on shared
        # cores one sample may still come in late)
        recovered = False
        for _ in range(100):
            await asyncio.sleep(0.05)
            try:
                monitor.admit()
                recovered = True
                break
            except Overloaded:
                pass
        await monitor.stop()
        return shed, lag, recovered

    shed, lag, recovered = asyncio.run(scenario())
    assert shed and lag > 30.0
    assert recovered


def test_overload_disabled_with_zero_limit() -> None:
    monitor = LoopLagMonitor(limit_ms=0.0)
    monitor.lag_ms = 10_000.0
    monitor.admit()  # never sheds


def test_overload_score_answers_503_overloaded_without_doing_work(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a worker whose loop is 100 ms behind (a monitor that is not running keeps that value)
    service = client.app.state.runtime.service  # type: ignore[attr-defined]
    behind = LoopLagMonitor(limit_ms=30.0)
    behind.lag_ms = 100.0
    monkeypatch.setattr(service, "overload", behind)
    # WHEN a transaction arrives THEN it is refused at once with a retryable 503
    body = transaction()
    response = client.post("/api/v1/score", json=body)
    assert response.status_code == 503
    assert response.json()["error"] == "overloaded"
    assert response.headers["Retry-After"] == "1"
    assert behind.shed == 1
    # AND nothing was stored: once the loop catches up, the same request is scored normally
    behind.lag_ms = 0.0
    retry = client.post("/api/v1/score", json=body)
    assert retry.status_code == 200 and "Idempotent-Replayed" not in retry.headers


def test_overload_score_answers_503_while_database_work_is_at_its_limit(
    client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a worker whose loop keeps up but whose database work is at its limit (here: a limit of 0)
    service = client.app.state.runtime.service  # type: ignore[attr-defined]
    idle = LoopLagMonitor(limit_ms=30.0)
    monkeypatch.setattr(service, "overload", idle)
    monkeypatch.setattr(service.db, "max_in_flight", 0)
    monkeypatch.setattr(errors, "_sampled", errors._Sampled())
    # WHEN two transactions arrive
    with caplog.at_level(logging.WARNING, logger="fraud_api.app.api.errors"):
        responses = [client.post("/api/v1/score", json=transaction()) for _ in range(2)]
    # THEN both are shed with a retryable 503, each counted, and the operator reads why
    assert [(r.status_code, r.json()["error"]) for r in responses] == [(503, "overloaded")] * 2
    assert idle.shed == 2
    first = next(r for r in caplog.records if r.message == "overloaded")
    assert first.error == "0 database operations in flight"  # type: ignore[attr-defined]
