"""How fraud-api connects to PostgreSQL: the libpq parameters, and connection classes that log in
with the current RDS secret and re-read it once when a rotation made it stale.

The pool and the "database unavailable" contract built on these are in ``core/db.py``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from fraud_api.app.core.config import Settings
from fraud_api.app.core.secrets import CredentialsSource

# The pool's logger: these lines are about its connections, and operators filter on it.
logger = logging.getLogger("fraud_api.app.core.db")

Connection = psycopg.Connection[TupleRow]
AsyncConnection = psycopg.AsyncConnection[TupleRow]

# SQLSTATE class 28 (invalid authorization): the password changed (rotation) or the user is wrong.
_AUTH_SQLSTATES = frozenset({"28P01", "28000"})


def is_auth_failure(exc: psycopg.OperationalError) -> bool:
    if exc.sqlstate in _AUTH_SQLSTATES:
        return True
    # libpq reports connection-time authentication failures without a SQLSTATE.
    text = str(exc).lower()
    return "password authentication failed" in text or "authentication failed for user" in text


def sync_connection_class(credentials: CredentialsSource | None) -> type[Connection]:
    """A Connection class whose ``connect`` adds the current secret credentials (migrations)."""
    if credentials is None:
        return psycopg.Connection
    provider: CredentialsSource = credentials

    class SecretCredentialsConnection(psycopg.Connection[TupleRow]):
        @classmethod
        def connect(cls, conninfo: str = "", **kwargs: Any) -> Any:
            creds = provider.get()
            try:
                return super().connect(conninfo, **kwargs, user=creds.username, password=creds.password)
            except psycopg.OperationalError as exc:
                if not is_auth_failure(exc):
                    raise
                logger.warning("database authentication failed; re-reading the database secret")
                provider.invalidate()
                creds = provider.get()
                return super().connect(conninfo, **kwargs, user=creds.username, password=creds.password)

    return SecretCredentialsConnection


def async_connection_class(credentials: CredentialsSource | None) -> type[AsyncConnection]:
    """The pool's AsyncConnection class, with the same credential handling.

    psycopg_pool calls ``connection_class.connect(conninfo, **kwargs)`` for every new connection,
    so rotation is handled on that one path. Reading the secret (boto3, blocking) happens in a
    thread so a reconnection never stalls the event loop that serves requests.
    """
    if credentials is None:
        return psycopg.AsyncConnection
    provider: CredentialsSource = credentials

    class SecretCredentialsAsyncConnection(psycopg.AsyncConnection[TupleRow]):
        @classmethod
        async def connect(cls, conninfo: str = "", **kwargs: Any) -> Any:
            creds = await asyncio.to_thread(provider.get)
            try:
                return await super().connect(conninfo, **kwargs, user=creds.username, password=creds.password)
            except psycopg.OperationalError as exc:
                if not is_auth_failure(exc):
                    raise
                logger.warning("database authentication failed; re-reading the database secret")
                provider.invalidate()
                creds = await asyncio.to_thread(provider.get)
                return await super().connect(conninfo, **kwargs, user=creds.username, password=creds.password)

    return SecretCredentialsAsyncConnection


def conninfo(settings: Settings) -> str:
    if settings.DATABASE_URL is not None:
        return settings.DATABASE_URL.get_secret_value()
    return psycopg.conninfo.make_conninfo(host=settings.DB_HOST, port=settings.DB_PORT, dbname=settings.DB_NAME)


def connect_kwargs(settings: Settings, statement_timeout_ms: int) -> dict[str, Any]:
    """libpq parameters shared by the pool and the migration connection.

    Session settings travel in ``options`` so they cost no extra round trip per connection.
    """
    kwargs: dict[str, Any] = {
        "sslmode": settings.DB_SSLMODE,
        "connect_timeout": settings.DB_CONNECT_TIMEOUT_S,
        "application_name": settings.DB_APPLICATION_NAME,
        "options": (
            f"-c statement_timeout={statement_timeout_ms} -c lock_timeout={statement_timeout_ms} "
            "-c idle_in_transaction_session_timeout=10000 -c TimeZone=UTC "
            f"-c synchronous_commit={settings.DB_SYNCHRONOUS_COMMIT}"
        ),
        # A peer that vanishes without closing (AZ failure, failover) is detected in seconds
        # instead of the kernel's default two hours.
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "tcp_user_timeout": 5000,
        # Only a server that takes writes: during a failover the cluster endpoint can still name
        # the demoted writer for a few seconds; such a connection attempt fails and is retried.
        "target_session_attrs": "read-write",
        "autocommit": True,
    }
    if settings.DB_SSLMODE.startswith("verify"):
        kwargs["sslrootcert"] = settings.DB_SSLROOTCERT
    return kwargs
