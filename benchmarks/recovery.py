"""fraud-api's time to recover, without a restart, after the database comes back (``make bench``).

Run from the repository root: ``.venv/bin/python benchmarks/recovery.py [--runs 5] [--outage 5]``.

One fraud-api process (the app in-process, its production pool settings) on embedded PostgreSQL,
with a client scoring every 50 ms throughout (a client retrying its 503s). Scenarios, each
``--runs`` times on the same process:

* ``restart``: the server is stopped like a crash (``pg_ctl stop -m immediate``), stays down for
  ``--outage`` seconds (longer than the pool's own reconnection window), then starts again;
* ``kill+start``: the issue's probe: crash and start again at once;
* ``failover``: two servers behind one multi-host endpoint; the writer turns read-only (its open
  connections refuse writes), one second later the other server takes writes (roles swap back
  on the next run);
* ``rotation``: the password changes and the sessions are cut while the secret still holds the
  old password for ``--outage`` seconds, then the secret gets the new one.

The figure is the time from the moment the database accepts the service's connections again
(``pg_ctl start`` returned; the new writer took writes; the secret holds the new password) to
the first 200, against the goal of 5 s, and as a ratio to a floor measured in the same run: a
fresh connection plus one score on a healthy service.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fraud_api.app.core.config import Settings  # noqa: E402
from fraud_api.app.core.migrations import migrate  # noqa: E402
from fraud_api.app.main import create_app  # noqa: E402
from fraud_api.embedded_db import EmbeddedPostgres  # noqa: E402
from fraud_common.card import random_letters  # noqa: E402

GOAL_S = 5.0
GIVE_UP_S = 60.0
CLIENT_INTERVAL_S = 0.05
API_CONFIG = {
    "thresholds": {"review": 0.5, "decline": 0.85},
    "signingKey": "s" * 64,
    "panHashKeys": {"1": "k" * 64},
    "panHashKeyVersion": "1",
}
ROLE = "fraud_bench"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds-bench"


def _transaction() -> dict[str, Any]:
    moment = datetime.now(UTC) - timedelta(minutes=1)
    return {
        "transactionId": f"tx-{random_letters(16)}",
        "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "customerId": f"cust-{random_letters(12)}",
        "terminalId": "term-bench",
        "amount": "42.50",
        "currency": "EUR",
        "cardNumber": "4111111111111111",
        "merchantCategoryCode": "5411",
        "channel": "pos",
    }


def _scores(client: TestClient) -> bool:
    return client.post("/api/v1/score", json=_transaction()).status_code == 200


def _traffic(client: TestClient, seconds: float) -> None:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        _scores(client)
        time.sleep(CLIENT_INTERVAL_S)


def _time_to_first_200(client: TestClient) -> float:
    started = time.monotonic()
    while time.monotonic() - started < GIVE_UP_S:
        if _scores(client):
            return time.monotonic() - started
        time.sleep(CLIENT_INTERVAL_S)
    return float("inf")


def _settings(**values: Any) -> Settings:
    base: dict[str, Any] = {
        "ENVIRONMENT": "local",
        "DB_SSLMODE": "disable",
        "API_CONFIG_JSON": SecretStr(json.dumps(API_CONFIG)),
        "LOG_LEVEL": "ERROR",
    }
    return Settings(**(base | values))


@contextmanager
def _app(settings: Settings, secret_reader: Callable[[str], str] | None = None) -> Iterator[TestClient]:
    with TestClient(create_app(settings, secret_reader=secret_reader), raise_server_exceptions=False) as client:
        if not _scores(client):
            raise RuntimeError("the service does not score before the scenario")
        yield client


def _create_database(server: EmbeddedPostgres, name: str, owner: str | None = None) -> None:
    with psycopg.connect(server.uri, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
        conn.execute(f'CREATE DATABASE "{name}"{f" OWNER {owner}" if owner else ""}'.encode())


def _set_read_only(server: EmbeddedPostgres, read_only: bool) -> None:
    with psycopg.connect(server.uri, autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET default_transaction_read_only = {'on' if read_only else 'off'}".encode())
        conn.execute("SELECT pg_reload_conf()")


def bench_restart(server: EmbeddedPostgres, runs: int, outage_s: float) -> list[float]:
    _create_database(server, "restart")
    times = []
    with _app(_settings(DATABASE_URL=server.database_uri("restart"))) as client:
        for _ in range(runs):
            server.stop("immediate")
            _traffic(client, outage_s)
            server.start()
            times.append(_time_to_first_200(client))
            _traffic(client, 1.0)
    return times


def bench_failover(primary: EmbeddedPostgres, standby: EmbeddedPostgres, runs: int) -> list[float]:
    for server in (primary, standby):
        _create_database(server, "failover")
        with psycopg.connect(server.database_uri("failover"), autocommit=True) as conn:
            migrate(conn)
    _set_read_only(standby, True)
    endpoint = f"postgresql://postgres:@/failover?host={primary.data_dir},{standby.data_dir}"
    writer, reader = primary, standby
    times = []
    try:
        with _app(_settings(DATABASE_URL=endpoint)) as client:
            for _ in range(runs):
                _set_read_only(writer, True)
                _traffic(client, 1.0)
                _set_read_only(reader, False)
                times.append(_time_to_first_200(client))
                writer, reader = reader, writer
                _traffic(client, 1.0)
    finally:
        _set_read_only(primary, False)
        _set_read_only(standby, False)
    return times


def bench_rotation(server: EmbeddedPostgres, runs: int, outage_s: float) -> list[float]:
    hba = server.data_dir / "pg_hba.conf"
    original = hba.read_text(encoding="utf-8")
    hba.write_text(f"local all {ROLE} scram-sha-256\n" + original, encoding="utf-8")
    password = f"bench-{uuid.uuid4().hex}"
    with psycopg.connect(server.uri, autocommit=True) as conn:
        conn.execute(b"DROP DATABASE IF EXISTS rotation WITH (FORCE)")
        conn.execute(f"DROP ROLE IF EXISTS {ROLE}".encode())
        conn.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{password}'".encode())
        conn.execute("SELECT pg_reload_conf()")
    _create_database(server, "rotation", owner=ROLE)
    secret = {"value": json.dumps({"username": ROLE, "password": password})}
    settings = _settings(DB_HOST=str(server.data_dir), DB_NAME="rotation", DB_SECRET_ARN=SECRET_ARN)
    times = []
    try:
        with _app(settings, secret_reader=lambda _arn: secret["value"]) as client:
            for _ in range(runs):
                password = f"bench-{uuid.uuid4().hex}"
                with psycopg.connect(server.uri, autocommit=True) as admin:
                    admin.execute(f"ALTER ROLE {ROLE} PASSWORD '{password}'".encode())
                    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (ROLE,))
                _traffic(client, outage_s)
                secret["value"] = json.dumps({"username": ROLE, "password": password})
                times.append(_time_to_first_200(client))
                _traffic(client, 1.0)
    finally:
        hba.write_text(original, encoding="utf-8")
        with psycopg.connect(server.uri, autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
    return times


def floor_s(server: EmbeddedPostgres, runs: int) -> float:
    """A fresh connection plus one score on a healthy service: the least a recovery can take."""
    _create_database(server, "floor")
    samples = []
    with _app(_settings(DATABASE_URL=server.database_uri("floor"))) as client:
        for _ in range(max(runs, 5)):
            started = time.monotonic()
            psycopg.connect(server.database_uri("floor")).close()
            _scores(client)
            samples.append(time.monotonic() - started)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="repetitions per scenario (5)")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds the database stays away (5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fraud-recovery-bench-") as tmp:
        primary = EmbeddedPostgres(Path(tmp) / "primary")
        standby = EmbeddedPostgres(Path(tmp) / "standby")
        primary.start()
        standby.start()
        try:
            floor = floor_s(primary, args.runs)
            results = {
                f"restart ({args.outage:g} s down)": bench_restart(primary, args.runs, args.outage),
                "kill+start (0 s down)": bench_restart(primary, args.runs, 0.0),
                "failover (1 s without writer)": bench_failover(primary, standby, args.runs),
                f"rotation (secret {args.outage:g} s late)": bench_rotation(primary, args.runs, args.outage),
            }
        finally:
            primary.cleanup()
            standby.cleanup()
    print("fraud-api recovery without a restart: time from the database accepting connections again")
    print(
        f"to the first 200 (client retrying every {CLIENT_INTERVAL_S * 1000:.0f} ms), "
        f"{args.runs} runs per scenario; goal <= {GOAL_S:g} s"
    )
    print(f"floor (fresh connection + one score on a healthy service): {floor * 1000:.1f} ms")
    print(f"{'scenario':36} {'median s':>9} {'max s':>7} {'x floor (median)':>17} {'within goal':>12}")
    worst = 0.0
    for name, times in results.items():
        median, high = statistics.median(times), max(times)
        worst = max(worst, high)
        within = sum(t <= GOAL_S for t in times)
        print(f"{name:36} {median:9.2f} {high:7.2f} {median / floor:17.0f} {within:>7}/{len(times)}")
    print(f"command: .venv/bin/python benchmarks/recovery.py --runs {args.runs} --outage {args.outage:g}")
    return 0 if worst <= GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
