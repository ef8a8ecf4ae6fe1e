"""The PostgreSQL connection pool and the "database unavailable" contract.

The request path is asyncio end to end (psycopg's AsyncConnectionPool): one event loop per
worker, no hand-off to FastAPI's thread pool (and no GIL ping-pong between the loop and worker
threads), and a database call can be abandoned at a deadline without waiting for it, which a
thread blocked in libpq cannot. Migrations use a plain sync connection at startup.

A request never waits on the database longer than ``DB_REQUEST_TIMEOUT_MS`` in total (of which
at most ``DB_POOL_TIMEOUT_MS`` for a connection), even if the server hangs; every connectivity
failure surfaces as ``DatabaseUnavailable`` (answered 503).

Recovery never needs a restart of the process:

* restart or crash of the server: broken connections are discarded at checkout and replaced;
  once every reconnection attempt of the pool has given up (``DB_RECONNECT_TIMEOUT_S``), the
  pool has no connection left and would never try again by itself (psycopg_pool only grows on
  demand, and its ``max_waiting`` counts requests that already timed out, so it refuses every
  request before one can start an attempt). ``Database`` therefore admits no request to the
  empty pool (503 at once, nothing queued) and probes it every ``RECOVERY_PROBE_S`` until a
  connection comes back;
* failover (the cluster endpoint moves to another instance): new connections accept only a
  server that takes writes (``target_session_attrs=read-write``), and a connection whose server
  turned read-only (the demoted writer) is closed and the pool drained, so the next ones are
  made to the new writer;
* credential rotation: a connection attempt that fails authentication re-reads the RDS secret
  and tries again (``core/connect.py``); the probe keeps trying until the secret holds the new
  password.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from time import monotonic, time_ns
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from fraud_api.app.core.config import Settings
from fraud_api.app.core.connect import (
    AsyncConnection,
    Connection,
    async_connection_class,
    connect_kwargs,
    conninfo,
    sync_connection_class,
)
from fraud_api.app.core.secrets import CredentialsSource
from fraud_api.app.core.tracing import completed_span

logger = logging.getLogger(__name__)

T = TypeVar("T")

RECOVERY_PROBE_S = 0.5
"""While the pool has no connection, a connection attempt is started this often: the time to the
first answer after the database comes back is at most about this plus one connection."""
DRAIN_INTERVAL_S = 1.0
"""At most one pool drain per this long when servers turn read-only (one failover, one drain)."""

CHECK_BYPASS_S = 0.5
"""A connection returned to the pool less than this long ago is handed out without the liveness
round trip (HikariCP's aliveBypassWindowMs idea): under load that saves one round trip per
request, and a connection idle for longer (e.g. across a database restart) is still checked."""

# 25006 read_only_sql_transaction: the server this connection reaches no longer takes writes (a
# demoted writer after a failover, a reader behind a stale DNS answer).
_READ_ONLY_SQLSTATE = "25006"


@dataclass
class _Job:
    abandoned: bool = False
    has_connection: bool = False


_current_job: ContextVar[_Job | None] = ContextVar("fraud_api_db_job", default=None)


def _settle(first: asyncio.Future[None], _: object) -> None:
    """Completes ``first`` with whichever of the work's end and the deadline comes first."""
    if not first.done():
        first.set_result(None)


class WorkAbandoned(Exception):
    """The request this database work was for has already been answered (deadline passed)."""


def ensure_not_abandoned() -> None:
    """Call between statements: stops work whose request was already answered 503, so an
    overloaded service does not spend its capacity on answers nobody waits for."""
    job = _current_job.get()
    if job is not None and job.abandoned:
        raise WorkAbandoned


class DatabaseUnavailable(Exception):
    """The database could not serve this request in time (down, unreachable, overloaded).

    ``pool`` carries the pool's counters at that moment (logged with the 503), which tells an
    operator an outage (no connections) from an overload (all connections busy).
    """

    def __init__(self, message: str, pool: dict[str, int] | None = None) -> None:
        super().__init__(message)
        self.pool = pool or {}


def server_read_only(conn: AsyncConnection | Connection) -> bool:
    """Whether the server last reported itself read-only (a reader, or a writer being demoted).

    PostgreSQL (14+) reports both settings with every change, so this costs no round trip; the
    value is as fresh as the connection's last exchange with the server.
    """
    pgconn = conn.pgconn
    return (
        pgconn.parameter_status(b"in_hot_standby") == b"on"
        or pgconn.parameter_status(b"default_transaction_read_only") == b"on"
    )


class Database:
    """The pool plus the mapping of every connectivity failure to ``DatabaseUnavailable``."""

    def __init__(
        self,
        settings: Settings,
        credentials: CredentialsSource | None = None,
        *,
        migration_credentials: CredentialsSource | None,
    ) -> None:
        """``credentials`` log the request pool in; ``migration_credentials`` the migration
        connection, which must own the schema (None: the user of DATABASE_URL)."""
        self.settings = settings
        self.credentials = credentials
        self.conninfo = conninfo(settings)
        self._returned_at: weakref.WeakKeyDictionary[AsyncConnection, float] = weakref.WeakKeyDictionary()
        self._sync_class = sync_connection_class(migration_credentials)
        self.pool: AsyncConnectionPool[AsyncConnection] = AsyncConnectionPool(
            self.conninfo,
            connection_class=async_connection_class(credentials),
            kwargs=connect_kwargs(settings, settings.DB_STATEMENT_TIMEOUT_MS),
            min_size=settings.DB_POOL_MIN_SIZE,
            max_size=settings.DB_POOL_MAX_SIZE,
            timeout=settings.pool_timeout_s,
            # No queue limit in the pool: psycopg_pool counts requests that timed out waiting as
            # still waiting until a connection arrives, so during an outage its limit fills up and
            # then refuses every request before it can start a reconnection: no recovery ever.
            # Overload is refused before the pool instead, by admission control (core/overload.py),
            # which lets at most DB_POOL_MAX_SIZE requests at the pool at once.
            max_waiting=0,
            # A liveness round trip at checkout for connections idle longer than CHECK_BYPASS_S:
            # one broken by a database restart is discarded here (within the checkout timeout)
            # instead of failing the request.
            check=self._check,
            reconnect_timeout=settings.DB_RECONNECT_TIMEOUT_S,
            reconnect_failed=self._reconnect_failed,
            max_lifetime=settings.DB_MAX_LIFETIME_S,
            name="fraud-api",
            open=False,
        )

        # Work abandoned at its deadline finishes in the background; keep a reference so the
        # task is not garbage-collected half-way.
        self._abandoned: set[asyncio.Task[Any]] = set()
        # Database work in flight (including abandoned work still holding a connection).
        self.in_flight = 0
        # Recovery state: ``unreachable`` is set while the pool has no connection left and its
        # own attempts gave up; the keeper probes until one comes back.
        self.unreachable = False
        self._unreachable_since = 0.0
        self._wake = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        self._drained_at = 0.0
        self._background: set[asyncio.Task[None]] = set()

    async def _check(self, conn: AsyncConnection) -> None:
        returned = self._returned_at.get(conn)
        if returned is not None and monotonic() - returned < CHECK_BYPASS_S:
            return
        await AsyncConnectionPool.check_connection(conn)
        # After the round trip the server has reported any change: a demoted writer fails the
        # check, so the pool discards the connection and makes a new one (to the new writer).
        if server_read_only(conn):
            self._schedule_drain()
            raise psycopg.OperationalError("server is read-only (failover)")

    def _reconnect_failed(self, _: AsyncConnectionPool[Any]) -> None:
        """psycopg_pool gave up a connection slot (its attempts failed for DB_RECONNECT_TIMEOUT_S)."""
        self._wake.set()

    async def _keep(self) -> None:
        """Bring the pool back once it has lost every connection (see the module docstring)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self.pool.get_stats().get("pool_size", 0) > 0:
                continue  # other connections (or attempts) remain: the pool copes by itself
            self.unreachable = True
            self._unreachable_since = monotonic()
            logger.warning(
                "database unreachable: no connection left; requests answered 503 at once, reconnecting every %s s",
                RECOVERY_PROBE_S,
                extra={"pool": self._pool_stats()},
            )
            while not await self._probe():
                await asyncio.sleep(RECOVERY_PROBE_S)
            self.unreachable = False
            logger.warning(
                "database reachable again; serving",
                extra={"outage_s": round(monotonic() - self._unreachable_since, 2)},
            )

    async def _probe(self) -> bool:
        """Ask the pool for a connection: that starts an attempt (the pool grows on demand), and
        a connection made after the short wait still lands in the pool for the next probe."""
        try:
            async with self.pool.connection(timeout=RECOVERY_PROBE_S):
                return True
        except (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError):
            return False

    def _schedule_drain(self) -> None:
        """Close every idle connection (they reach the same read-only server) and make new ones."""
        now = monotonic()
        if now - self._drained_at < DRAIN_INTERVAL_S:
            return
        self._drained_at = now
        logger.warning("database server turned read-only (failover): reconnecting to the writer")
        task = asyncio.get_running_loop().create_task(self.pool.drain())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def open(self, fill: bool) -> None:
        """Start the pool. With ``fill`` (the database answered at startup) wait, briefly, for
        ``DB_POOL_MIN_SIZE`` connections so the first burst of traffic does not find it empty;
        never fail on it: the process must come up (and answer /api/health) while the database
        is unreachable, then recover by itself."""
        await self.pool.open(wait=False)
        self._keeper = asyncio.create_task(self._keep(), name="fraud-api-pool-keeper")
        if fill:
            try:
                await self.pool.wait(timeout=float(self.settings.DB_CONNECT_TIMEOUT_S))
            except PoolTimeout:
                logger.warning("connection pool not full at startup; continuing")

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        await self.pool.close(timeout=2.0)

    async def _on_connection(self, work: Callable[[AsyncConnection], Awaitable[T]], state: _Job) -> T:
        """``work`` on a pooled autocommit connection; connectivity errors become ``DatabaseUnavailable``.

        ``getconn``/``putconn`` rather than ``pool.connection()``: that context manager also wraps
        the connection in its own ``async with``, whose commit (or rollback) on exit takes the
        connection's lock and runs a generator even on an idle autocommit connection, where there
        is nothing to end; ``putconn`` still discards a connection returned in a transaction or
        mid-query. Two generator-based context managers fewer per request.
        """
        if self.unreachable:
            # Nothing to wait for: queueing would only add waiters that time out (see _keep).
            raise DatabaseUnavailable("database unreachable; reconnecting in the background", self._pool_stats())
        asked_at = time_ns()
        try:
            conn = await self.pool.getconn()
            completed_span("pool checkout", asked_at)
            state.has_connection = True
            try:
                ensure_not_abandoned()
                return await work(conn)
            except psycopg.Error as exc:
                if exc.sqlstate == _READ_ONLY_SQLSTATE:
                    await self._drop_read_only(conn)
                    raise DatabaseUnavailable("database refuses writes (read-only: failover)") from exc
                raise
            finally:
                if not conn.closed and server_read_only(conn):
                    await self._drop_read_only(conn)
                self._returned_at[conn] = monotonic()
                await self.pool.putconn(conn)
        except PoolTimeout as exc:
            raise DatabaseUnavailable(
                f"no database connection within {self.settings.DB_POOL_TIMEOUT_MS} ms", self._pool_stats()
            ) from exc
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            # At checkout or in the work: lost connections, admin shutdown and statement timeouts.
            raise DatabaseUnavailable(f"database error: {type(exc).__name__}") from exc

    async def _drop_read_only(self, conn: AsyncConnection) -> None:
        """A closed connection is discarded by the pool on return and replaced."""
        await conn.close()
        self._schedule_drain()

    async def ping(self) -> None:
        """Readiness: a round trip on a pooled connection to a server that takes writes."""

        async def work(conn: AsyncConnection) -> None:
            await conn.execute("SELECT 1")
            if server_read_only(conn):
                raise DatabaseUnavailable("database server is read-only (failover in progress)")

        await self.run(work)

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` on a pooled connection; answer within ``DB_REQUEST_TIMEOUT_MS`` regardless.

        The work runs as its own task; the request waits for the first of its end and the deadline,
        on one future that either completes. (``wait_for(shield(task))`` did the same with an extra
        future, more callbacks and two more event-loop passes: 10.9 against 8.2 us per call with a
        fake connection, ``uvloop``.) A request cancelled while waiting (the client went away)
        leaves the work running. At the deadline the request gets ``DatabaseUnavailable`` at once,
        and the work:

        * still queued for a connection: is cancelled (nothing is in flight on the server);
        * holding a connection: is not cancelled (cancelling a query costs a cancel request on
          a new connection and often the connection itself, which under load turns a slow
          moment into a reconnection storm). The statement in flight finishes, bounded by the
          server's ``statement_timeout``; ``ensure_not_abandoned()`` stops the work before its
          next statement. A frozen server keeps these connections; later requests then get
          503 from the pool timeout. An INSERT committed after the deadline is harmless: the
          client's retry gets that decision back (idempotency).
        """
        state = _Job()

        async def job() -> T:
            _current_job.set(state)  # the task runs in its own copy of the context
            return await self._on_connection(work, state)

        loop = asyncio.get_running_loop()
        task = loop.create_task(job())
        self.in_flight += 1
        task.add_done_callback(self._done)
        first: asyncio.Future[None] = loop.create_future()
        task.add_done_callback(partial(_settle, first))
        deadline = loop.call_later(self.settings.request_timeout_s, _settle, first, None)
        try:
            await first
        finally:
            deadline.cancel()
        if task.done():  # finished, possibly at the very deadline: its outcome is the answer
            return task.result()
        state.abandoned = True
        if not state.has_connection:
            task.cancel()
        self._abandoned.add(task)
        task.add_done_callback(self._forget)
        raise DatabaseUnavailable(
            f"database did not answer within {self.settings.DB_REQUEST_TIMEOUT_MS} ms", self._pool_stats()
        )

    def _done(self, _: asyncio.Task[Any]) -> None:
        self.in_flight -= 1

    def _pool_stats(self) -> dict[str, int]:
        stats = self.pool.get_stats()
        keys = ("pool_size", "pool_available", "requests_waiting", "connections_errors", "connections_lost")
        return {k: stats.get(k, 0) for k in keys} | {"abandoned": len(self._abandoned), "in_flight": self.in_flight}

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._abandoned.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None and not isinstance(error, WorkAbandoned | DatabaseUnavailable):
            logger.info("abandoned database work failed", extra={"error": type(error).__name__})

    def connect_direct(self, statement_timeout_ms: int) -> Connection:
        """A sync connection outside the pool (migrations), with the same TLS and credentials."""
        kwargs = connect_kwargs(self.settings, statement_timeout_ms)
        conn: Connection = self._sync_class.connect(self.conninfo, **kwargs)
        return conn
