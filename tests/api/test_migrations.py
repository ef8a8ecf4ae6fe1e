"""Schema migrations: applied once, safe to run twice and concurrently, refusing inconsistencies."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fraud_api.app.core.migrations import MigrationError, discover, migrate
from fraud_api.embedded_db import EmbeddedPostgres
from tests.api.utils import query, running_app
from tests.support.api_app import create_database, make_settings

Conn = psycopg.Connection[tuple[object, ...]]


@pytest.fixture
def fresh_url(pg: EmbeddedPostgres) -> str:
    return create_database(pg.uri, f"mig_{uuid.uuid4().hex[:12]}")


def _tables(url: str) -> set[str]:
    rows = query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {str(r[0]) for r in rows}


def test_migrate_empty_database_creates_schema_then_second_run_applies_nothing(fresh_url: str) -> None:
    # GIVEN an empty database
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        # WHEN the migrations run twice
        first = migrate(conn)
        second = migrate(conn)
    # THEN the first run applies every file, the second nothing, and the schema is there
    assert first == [f"{m.version:03d}_{m.name}" for m in discover()]
    assert second == []
    assert {"transactions", "schema_migrations"} <= _tables(fresh_url)
    indexes = {str(r[0]) for r in query(fresh_url, "SELECT indexname FROM pg_indexes WHERE tablename = 'transactions'")}
    assert {"transactions_customer_ts", "transactions_terminal_ts"} <= indexes
    assert query(fresh_url, "SELECT count(*) FROM transactions") == [(0,)]


def test_migrate_concurrent_workers_apply_each_file_once(fresh_url: str) -> None:
    # GIVEN four workers starting at the same moment against an empty database
    results: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            with psycopg.connect(fresh_url, autocommit=True) as conn:
                barrier.wait()
                results.append(migrate(conn))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN the advisory lock let one apply everything and the others find nothing to do
    assert errors == []
    assert sorted(len(r) for r in results) == [0, 0, 0, len(discover())]
    assert query(fresh_url, "SELECT count(*) FROM schema_migrations") == [(len(discover()),)]


def test_migrate_edited_applied_file_is_refused(fresh_url: str, tmp_path: Path) -> None:
    # GIVEN a database migrated with 001, and a copy of 001 edited afterwards
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        migrate(conn)
        for migration in discover():
            (tmp_path / f"{migration.version:03d}_{migration.name}.sql").write_text(migration.sql, encoding="utf-8")
        edited = tmp_path / "001_initial.sql"
        edited.write_text(discover()[0].sql + "\n-- edited\n", encoding="utf-8")
        # WHEN the edited set runs THEN it is refused, naming the file
        with pytest.raises(MigrationError, match="001_initial changed after it was applied"):
            migrate(conn, discover(tmp_path))


def test_migrate_database_newer_than_code_is_refused(fresh_url: str) -> None:
    # GIVEN a database that a newer release migrated to version 999
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        migrate(conn)
        conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (999, 'future', 'x')")
        # WHEN this release starts THEN it refuses to run on a schema it does not know
        with pytest.raises(MigrationError, match=r"\[999\]"):
            migrate(conn)


def test_migrate_failing_file_leaves_no_trace_and_is_retried(fresh_url: str, tmp_path: Path) -> None:
    # GIVEN a migration set whose second file fails halfway
    (tmp_path / "001_initial.sql").write_text(discover()[0].sql, encoding="utf-8")
    broken = tmp_path / "002_broken.sql"
    broken.write_text("CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n", encoding="utf-8")
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UndefinedTable):
            migrate(conn, discover(tmp_path))
        # THEN 001 is recorded, 002 left nothing behind, and the lock was released
        assert query(fresh_url, "SELECT version FROM schema_migrations") == [(1,)]
        assert "half_done" not in _tables(fresh_url)
        # WHEN 002 is fixed and the migrations run again THEN it is applied
        broken.write_text("CREATE TABLE half_done (id int);\n", encoding="utf-8")
        assert migrate(conn, discover(tmp_path)) == ["002_broken"]


def test_app_started_twice_on_same_database_migrates_once(fresh_url: str, model_path: Path) -> None:
    # GIVEN an empty database WHEN the service starts, stops, and starts again
    settings = make_settings(fresh_url, model_path)
    for _ in range(2):
        with running_app(settings) as client:
            assert client.get("/api/ready").status_code == 200
    # THEN each migration was recorded exactly once
    assert query(fresh_url, "SELECT count(*) FROM schema_migrations") == [(len(discover()),)]


# RDS IAM authentication (migration 003). Kept out of tests/api/core/test_iam_auth.py, whose module
# fixture holds a server-wide rds_iam role for its whole module.
@pytest.fixture
def rds_iam_role(pg: EmbeddedPostgres) -> Iterator[None]:
    """An Aurora-like rds_iam role (roles are server-wide: dropped again afterwards)."""
    with psycopg.connect(pg.uri, autocommit=True) as conn:
        conn.execute("DO $$ BEGIN CREATE ROLE rds_iam; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    yield
    with psycopg.connect(pg.uri, autocommit=True) as conn:
        conn.execute("DROP ROLE rds_iam")


def test_iam_migration_fails_loudly_when_the_migrating_user_cannot_grant_rds_iam(
    pg: EmbeddedPostgres, rds_iam_role: None
) -> None:
    # GIVEN Aurora's rds_iam role and a migrating user that may create roles and owns the database,
    # but holds no admin option on rds_iam (a master user whose grant of it lacks WITH ADMIN OPTION)
    user, database = f"master_{uuid.uuid4().hex[:8]}", f"mig_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.uri, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {user} LOGIN CREATEROLE".encode())
    url = create_database(pg.uri, database)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {database} OWNER TO {user}".encode())
        conn.execute(f"ALTER SCHEMA public OWNER TO {user}".encode())
    master_url = url.replace("postgres:@", f"{user}:@")
    # WHEN the migrations run with IAM authentication on THEN they fail, naming the user and the fix
    with (
        psycopg.connect(master_url, autocommit=True) as conn,
        pytest.raises(psycopg.errors.RaiseException, match="cannot grant rds_iam to fraud_api") as caught,
    ):
        migrate(conn, iam_auth=True)
    assert f"{user} lacks the admin option on rds_iam" in str(caught.value)
    assert "GRANT rds_iam TO fraud_api" in (caught.value.diag.message_hint or "")
    assert query(url, "SELECT pg_has_role('fraud_api', 'rds_iam', 'member')") == [(False,)]
    assert query(url, "SELECT max(version) FROM schema_migrations") == [(2,)]
    # AND once the user holds the admin option, the next start completes the step
    with psycopg.connect(pg.uri, autocommit=True) as conn:
        conn.execute(f"GRANT rds_iam TO {user} WITH ADMIN OPTION".encode())
    with psycopg.connect(master_url, autocommit=True) as conn:
        assert migrate(conn, iam_auth=True) == ["003_require_rds_iam", "004_export_reader", "005_shadow_score"]
    assert query(url, "SELECT pg_has_role('fraud_api', 'rds_iam', 'member')") == [(True,)]


def test_iam_migration_refuses_iam_auth_on_a_server_without_rds_iam(pg: EmbeddedPostgres) -> None:
    # GIVEN plain PostgreSQL (no rds_iam role) WHEN the migrations run with IAM authentication on
    url = create_database(pg.uri, "iam_plain")
    with psycopg.connect(url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="no rds_iam role"):
            migrate(conn, iam_auth=True)
        # THEN without IAM authentication (local mode) the same server migrates as before
        assert migrate(conn) == ["003_require_rds_iam", "004_export_reader", "005_shadow_score"]
