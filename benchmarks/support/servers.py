"""The servers a benchmark measures: a seeded embedded PostgreSQL, HTTP targets under uvicorn, and
the CPU each of them uses.

Every target (fraud-api and the floors in ``benchmarks/floors``) is started by the same uvicorn
command with the same flags as the image (uvloop, httptools, no access log) and the same
environment, on a free port of 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg

from fraud_api.app.core.migrations import migrate
from fraud_api.embedded_db import EmbeddedPostgres
from fraud_scoring import HISTORY_DAYS

ROOT = Path(__file__).resolve().parents[2]

FRAUD_API = "fraud_api.app.main:app"
FLOOR_HTTP = "benchmarks.floors.http:app"
FLOOR_DB = "benchmarks.floors.db:app"
FLOOR_PATH = "benchmarks.floors.path:app"
API_CONFIG = {
    "thresholds": {"review": 0.5, "decline": 0.85},
    "signingKey": "s" * 64,
    "panHashKeys": {"1": "p" * 64},
    "panHashKeyVersion": "1",
}
READY_TIMEOUT_S = 60.0

SEED_SQL = """
INSERT INTO transactions (transaction_id, ts, customer_id, terminal_id, amount, currency, merchant_category_code,
    channel, card_hash, card_key_version, card_bin, card_last4, card_pan_length, score, decision, reasons,
    model_version, review_threshold, decline_threshold)
SELECT 'seed-' || g, now() - random() * make_interval(days => %(days)s), 'cust-' || (g %% %(customers)s),
       'term-' || floor(random() * %(terminals)s)::int, round((5 + random() * 120)::numeric, 2), 'EUR', '5411', 'pos',
       md5('c' || (g %% %(customers)s)) || md5('k' || (g %% %(customers)s)), '1', '411111',
       lpad((g %% 10000)::text, 4, '0'), 16, 0.01, 'approve', '["seed"]', 'seed', 0.5, 0.85
  FROM generate_series(1, %(rows)s) AS g
"""
SEED_LABELS_SQL = """
UPDATE transactions SET label_fraud = random() < 0.15, label_time = ts + interval '3 days', label_source = 'chargeback'
 WHERE ts < now() - interval '8 days' AND random() < 0.05
"""


def seed(uri: str, customers: int, terminals: int, days: int = HISTORY_DAYS, per_day: float = 3.0) -> int:
    """Migrations, then a history shaped like the fraud handbook's simulator; returns the row count."""
    rows = int(customers * per_day * days)
    with psycopg.connect(uri, autocommit=True) as conn:
        migrate(conn)
        conn.execute(SEED_SQL, {"days": days, "customers": customers, "terminals": terminals, "rows": rows})
        conn.execute(SEED_LABELS_SQL)
        conn.execute("VACUUM ANALYZE transactions")
        # Flush the seed's dirty pages now, not in a checkpoint during the measurements.
        conn.execute("CHECKPOINT")
    return rows


@contextmanager
def seeded_database(customers: int, terminals: int) -> Iterator[EmbeddedPostgres]:
    """An embedded PostgreSQL (durability settings left at their defaults), seeded; deleted at the end."""
    with EmbeddedPostgres() as pg:
        started = time.monotonic()
        rows = seed(pg.uri, customers, terminals)
        print(f"seeded {rows} transactions in {time.monotonic() - started:.1f} s", flush=True)
        yield pg


def postmaster_pid(pg: EmbeddedPostgres) -> int:
    return int((pg.data_dir / "postmaster.pid").read_text().split()[0])


@dataclass(frozen=True)
class ServerOptions:
    """What every target gets, so fraud-api and its floors run under the same conditions."""

    workers: int
    pool_max: int
    log_level: str = "INFO"
    synchronous_commit: str = "on"
    loop: str = "uvloop"
    log: Path | None = None
    """The targets' output (as the awslogs driver would take it); None: discarded."""
    env: tuple[tuple[str, str], ...] = ()
    """Further settings of this target (e.g. FRAUD_API_TRACE_*), over the shared ones."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(app: str, uri: str, port: int, options: ServerOptions, root: Path = ROOT) -> subprocess.Popen[bytes]:
    """``app`` (module:attribute) under uvicorn, once GET /api/ready answers 200. The floors read the
    same FRAUD_API_* settings fraud-api does (the database, its pool size, synchronous_commit)."""
    env = {
        **os.environ,
        "FRAUD_API_ENVIRONMENT": "local",
        "FRAUD_API_DATABASE_URL": uri,
        "FRAUD_API_DB_SSLMODE": "disable",
        "FRAUD_API_API_CONFIG_JSON": json.dumps(API_CONFIG),
        "FRAUD_API_DB_POOL_MIN_SIZE": str(options.pool_max),
        "FRAUD_API_DB_POOL_MAX_SIZE": str(options.pool_max),
        "FRAUD_API_LOG_LEVEL": options.log_level,
        "FRAUD_API_DB_SYNCHRONOUS_COMMIT": options.synchronous_commit,
        "WEB_CONCURRENCY": str(options.workers),
        "PYTHONPATH": str(root),
        **dict(options.env),
    }
    # The image's command (fraud_api/Dockerfile), on a local port.
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--loop", options.loop, "--http", "httptools", "--no-access-log", "--no-server-header"]
    command += ["--log-level", "warning"]
    # Appended: the targets of one run may share the file.
    with options.log.open("ab") if options.log else nullcontext(subprocess.DEVNULL) as log:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{app}: uvicorn exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET /api/ready HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return process
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{app} did not become ready within {READY_TIMEOUT_S:.0f} s")


def stop_servers(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class CpuMeter:
    """CPU seconds used so far by process trees (by name) and by this process (``loadgen``).

    A process tree's total is its own time, its live descendants' time, and what its reaped
    children used (``children_*``): uvicorn workers, PostgreSQL backends and cancelled connections
    come and go.
    """

    def __init__(self, trees: dict[str, int]) -> None:
        self.trees = {name: psutil.Process(pid) for name, pid in trees.items()}
        self.loadgen = psutil.Process(os.getpid())

    def sample(self) -> dict[str, float]:
        totals = {}
        for name, root in self.trees.items():
            t = root.cpu_times()
            total = t.user + t.system + t.children_user + t.children_system
            for child in root.children(recursive=True):
                try:
                    c = child.cpu_times()
                    total += c.user + c.system
                except psutil.Error:
                    pass
            totals[name] = total
        t = self.loadgen.cpu_times()
        totals["loadgen"] = t.user + t.system
        return totals
