"""Plain-SQL schema migrations (``fraud_api/migrations/NNN_name.sql``), applied at startup.

Every worker of every task calls ``migrate`` at start; a session advisory lock makes one of them
apply what is missing while the others wait, then find nothing left to do. Each file runs in its
own transaction together with its ``schema_migrations`` row, so a failed migration leaves no trace
and is retried whole. A file edited after it was applied is refused (checksum) rather than
silently skipped.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# pg_advisory_lock key: "fraudapi" as a 64-bit integer, so it cannot collide with another app's key.
LOCK_KEY = int.from_bytes(b"fraudapi", "big")
_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """The migration files or the recorded history are inconsistent."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise MigrationError(f"migration file {path.name} does not match NNN_name.sql")
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(f"two migration files share version {version:03d}")
        migrations[version] = Migration(version, match.group(2), path.read_text(encoding="utf-8"))
    if not migrations:
        raise MigrationError(f"no migration files in {directory}")
    return [migrations[v] for v in sorted(migrations)]


# The session setting through which migrations learn that the service logs in with RDS IAM tokens
# (003_require_rds_iam.sql then insists that fraud_api can).
IAM_AUTH_SETTING = "fraud.db_iam_auth"


def migrate(
    conn: psycopg.Connection[tuple[object, ...]], migrations: list[Migration] | None = None, *, iam_auth: bool = False
) -> list[str]:
    """Apply the missing migrations; return the names applied (empty when up to date).

    ``conn`` must be in autocommit mode; the advisory lock is held on its session. ``iam_auth``
    says whether the service's requests log in with RDS IAM tokens (FRAUD_API_DB_IAM_AUTH).
    """
    todo = migrations if migrations is not None else discover()
    conn.execute("SELECT set_config(%s, %s, false)", (IAM_AUTH_SETTING, "on" if iam_auth else "off"))
    conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = conn.execute("SELECT version, name, checksum FROM schema_migrations").fetchall()
        recorded = {int(str(v)): (str(n), str(c)) for v, n, c in rows}
        known = {m.version for m in todo}
        unknown = sorted(set(recorded) - known)
        if unknown:
            # The database was migrated by a newer release: refuse rather than run against a
            # schema this code does not know (a rollback must ship the same migrations).
            raise MigrationError(f"database has migrations {unknown} that this release does not know")
        applied: list[str] = []
        for migration in todo:
            if migration.version in recorded:
                if recorded[migration.version][1] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:03d}_{migration.name} changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            label = f"{migration.version:03d}_{migration.name}"
            logger.info("migration applied", extra={"migration": label})
            applied.append(label)
        return applied
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
