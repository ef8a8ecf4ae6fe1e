"""``Database.run``'s deadline: the request is answered at it, and what happens to the work then.

No PostgreSQL here: the pool is replaced by a fake that hands out a connection at once or only
when the test says so (a saturated pool), so every case is decided by the test's events, not by
the machine's speed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from fraud_api.app.core.db import Database, DatabaseUnavailable, WorkAbandoned, ensure_not_abandoned
from tests.support.api_app import make_settings

DEADLINE_MS = 150


class _FakeConnection:
    """What ``Database`` reads of a connection around the work: a server that takes writes."""

    closed = False

    class pgconn:  # psycopg's attribute name
        @staticmethod
        def parameter_status(_: bytes) -> bytes:
            return b"off"

    def __str__(self) -> str:
        return "conn"


class _FakePool:
    def __init__(self, has_connection: asyncio.Event | None) -> None:
        self.has_connection = has_connection
        self.out = 0

    async def getconn(self) -> _FakeConnection:
        if self.has_connection is not None:
            await self.has_connection.wait()
        self.out += 1
        return _FakeConnection()

    async def putconn(self, _: _FakeConnection) -> None:
        self.out -= 1

    def get_stats(self) -> dict[str, int]:
        return {}


def _database(pool_has_connection: asyncio.Event | None = None, deadline_ms: int = DEADLINE_MS) -> Database:
    """A Database whose pool hands out a connection once ``pool_has_connection`` is set (None: at once)."""
    settings = make_settings(
        "postgresql://unused.invalid/db", None, DB_REQUEST_TIMEOUT_MS=deadline_ms, DB_POOL_TIMEOUT_MS=100
    )
    db = Database(settings, migration_credentials=None)
    db.pool = _FakePool(pool_has_connection)  # type: ignore[assignment]
    return db


def _run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=10.0))


def test_db_deadline_work_in_time_returns_its_result_and_its_error_without_waiting_for_the_deadline() -> None:
    async def scenario() -> None:
        # A deadline past the scenario's own 10 s limit: waiting for it fails the test.
        db = _database(deadline_ms=60_000)

        async def ok(conn: Any) -> str:
            return f"scored on {conn}"

        async def broken(_: Any) -> str:
            raise KeyError("not a database problem")

        assert await db.run(ok) == "scored on conn"
        with pytest.raises(KeyError, match="not a database problem"):
            await db.run(broken)
        assert db.in_flight == 0 and not db._abandoned
        # AND both connections went back to the pool, the failed work's too
        assert db.pool.out == 0  # type: ignore[attr-defined]

    _run(scenario)


def test_db_deadline_passed_holding_a_connection_answers_503_and_the_work_stops_before_its_next_statement() -> None:
    async def scenario() -> None:
        db = _database()
        first_statement_done = asyncio.Event()
        stopped: list[type[BaseException]] = []

        async def slow(_: Any) -> str:
            await first_statement_done.wait()  # a statement the server takes its time with
            try:
                ensure_not_abandoned()
            except WorkAbandoned as exc:
                stopped.append(type(exc))
                raise
            return "stored"

        loop = asyncio.get_running_loop()
        started = loop.time()
        # WHEN the statement outlasts the deadline
        with pytest.raises(DatabaseUnavailable, match=f"did not answer within {DEADLINE_MS} ms"):
            await db.run(slow)
        # THEN the request is answered at the deadline, not when the statement ends
        assert DEADLINE_MS / 1000 <= loop.time() - started < 2.0
        # AND the work was not cancelled: it is still running, kept until it ends
        assert db.in_flight == 1 and len(db._abandoned) == 1
        # WHEN its statement finishes THEN it stops before the next one (nothing stored)
        first_statement_done.set()
        for _ in range(10):
            await asyncio.sleep(0)
        assert stopped == [WorkAbandoned]
        assert db.in_flight == 0 and not db._abandoned
        # AND its connection went back to the pool
        assert db.pool.out == 0  # type: ignore[attr-defined]

    _run(scenario)


def test_db_deadline_passed_waiting_for_a_connection_cancels_the_work() -> None:
    async def scenario() -> None:
        saturated = asyncio.Event()  # never set: no connection comes
        db = _database(saturated)
        ran: list[str] = []

        async def work(_: Any) -> None:
            ran.append("ran")

        with pytest.raises(DatabaseUnavailable):
            await db.run(work)
        for _ in range(5):
            await asyncio.sleep(0)
        # THEN it no longer waits for a connection: cancelled at the deadline, not left queued
        assert db.in_flight == 0 and not db._abandoned
        # AND a connection coming later does not run it
        saturated.set()
        await asyncio.sleep(0.01)
        assert ran == []

    _run(scenario)


def test_db_deadline_a_cancelled_request_leaves_its_work_running() -> None:
    async def scenario() -> None:
        db = _database()
        release = asyncio.Event()
        finished: list[str] = []

        async def work(_: Any) -> None:
            await release.wait()
            finished.append("stored")

        # GIVEN a request waiting on its database work WHEN the request is cancelled
        request = asyncio.create_task(db.run(work))
        await asyncio.sleep(0.01)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        # THEN the work (which may already be writing) still runs to its end
        assert db.in_flight == 1
        release.set()
        await asyncio.sleep(0.01)
        assert finished == ["stored"] and db.in_flight == 0

    _run(scenario)
