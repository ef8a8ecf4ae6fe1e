"""What tracing costs fraud-api: service CPU per POST /api/v1/score with tracing off, at the default
sample rate and at rate 1 (``make bench``).

Run from the repository root: ``.venv/bin/python benchmarks/tracing.py [--rounds 5] [--duration 8]``.

Three fraud-api processes (one uvicorn worker each, the same code and database) differ only in
FRAUD_API_TRACE_*: ``off`` (no exporter, no span made), ``default`` (OTLP/HTTP at the default rate,
0.05) and ``all`` (rate 1.0). The OTLP endpoint is a sink in another process that answers 200, so
the exporter does its real work (protobuf encoding, an HTTP POST per batch) in fraud-api's own
process, where it is measured. Each round loads the three in turn (the order rotates) with the
same closed loop: ``--connections`` clients, one keep-alive connection each, a new transaction per
request. CPU per request is the service process's CPU time (all its threads: the batch exporter
runs in one) over the 200s answered; only ratios to ``off`` within a round count, since the
machine's speed drifts from minute to minute. Prints each round, then medians and the spread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import gevent
import psutil
from geventhttpclient import HTTPClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import JSON_HEADERS, ScoreUser, free_port, score_body, seed, start_api

from fraud_api.app.core.config import Settings
from fraud_api.embedded_db import EmbeddedPostgres

DEFAULT_RATE = Settings.model_fields["TRACE_SAMPLE_RATE"].default
TARGETS = {"off": None, "default": DEFAULT_RATE, "all": 1.0}
BUDGET = 0.05  # the limit on tracing's CPU cost per request at the default rate


class _Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that accepts every export and keeps nothing."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def start_sink(port: int) -> subprocess.Popen[bytes]:
    """The sink in its own process (this script with --sink): its CPU is not fraud-api's."""
    return subprocess.Popen([sys.executable, __file__, "--sink", str(port)])


def start_target(uri: str, rate: float | None, sink_port: int, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    # start_api passes this process's environment on: set the trace variables for this one child.
    tracing = {"FRAUD_API_TRACE_EXPORTER": "none"}
    if rate is not None:
        tracing = {
            "FRAUD_API_TRACE_EXPORTER": "otlp",
            "FRAUD_API_TRACE_SAMPLE_RATE": str(rate),
            "FRAUD_API_TRACE_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}",
        }
    saved = dict(os.environ)
    os.environ.update(tracing)
    try:
        return start_api(uri, free_port_for(args), args)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def free_port_for(args: argparse.Namespace) -> int:
    port = free_port()
    args.ports.append(port)
    return port


def cpu_seconds(process: psutil.Process) -> float:
    t = process.cpu_times()
    return t.user + t.system


def load(port: int, connections: int, duration: float) -> int:
    """200s answered by ``connections`` closed-loop clients in ``duration`` seconds."""
    answered = [0]
    stop = [False]

    def client() -> None:
        http = HTTPClient("127.0.0.1", port, concurrency=1, connection_timeout=10, network_timeout=10)
        while not stop[0]:
            response = http.post("/api/v1/score", body=score_body(), headers=JSON_HEADERS)
            response.read()
            answered[0] += response.status_code == 200
        http.close()

    clients = [gevent.spawn(client) for _ in range(connections)]
    gevent.sleep(duration)
    stop[0] = True
    gevent.joinall(clients, timeout=15)
    return answered[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of load per target and round")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--terminals", type=int, default=4000)
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink is not None:
        ThreadingHTTPServer(("127.0.0.1", args.sink), _Sink).serve_forever()
        return
    # What start_api reads: one worker, the image's event loop and HTTP parser, logs as in production.
    args.workers, args.pool_max, args.loop, args.log_level = 1, 8, "uvloop", "INFO"
    args.synchronous_commit, args.server_log, args.ports = "on", None, []
    ScoreUser.customers, ScoreUser.terminals = args.customers, args.terminals

    sink_port = free_port()
    sink = start_sink(sink_port)
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="fraud-bench-tracing-")) / "data")
    apis: dict[str, subprocess.Popen[bytes]] = {}
    try:
        pg.start()
        rows = seed(pg.uri, args.customers, args.terminals, 37, 3.0)
        apis = {name: start_target(pg.uri, rate, sink_port, args) for name, rate in TARGETS.items()}
        ports = dict(zip(apis, args.ports, strict=True))
        processes = {name: psutil.Process(api.pid) for name, api in apis.items()}
        print(
            f"{rows} seeded transactions; 1 worker per target, {args.connections} connections, "
            f"{args.duration:.0f} s per target and round; default rate {DEFAULT_RATE}",
            flush=True,
        )
        for name in apis:
            load(ports[name], args.connections, 2.0)  # warm: pools full, code paths compiled
        per_request: dict[str, list[float]] = {name: [] for name in apis}
        ratios: dict[str, list[float]] = {"default": [], "all": []}
        names = list(apis)
        for round_ in range(args.rounds):
            order = names[round_ % 3 :] + names[: round_ % 3]
            measured = {}
            for name in order:
                before = cpu_seconds(processes[name])
                answered = load(ports[name], args.connections, args.duration)
                measured[name] = (cpu_seconds(processes[name]) - before) / answered * 1000.0
                per_request[name].append(measured[name])
            for name in ratios:
                ratios[name].append(measured[name] / measured["off"])
            print(
                f"round {round_ + 1} ({' '.join(order)}): CPU ms/request "
                + "  ".join(f"{n} {measured[n]:.3f}" for n in names)
                + f"   ratio default/off {ratios['default'][-1]:.3f}, all/off {ratios['all'][-1]:.3f}",
                flush=True,
            )
        print("median (min-max) over rounds:")
        for name in names:
            v = per_request[name]
            print(f"  {name:8s} CPU {statistics.median(v):.3f} ms/request ({min(v):.3f}-{max(v):.3f})")
        for name, v in ratios.items():
            print(f"  {name}/off  {statistics.median(v):.3f} ({min(v):.3f}-{max(v):.3f})")
        cost = statistics.median(ratios["default"]) - 1.0
        verdict = "met" if cost < BUDGET else "NOT met"
        print(f"goal: tracing at the default rate costs < {BUDGET:.0%} CPU per request: {verdict} ({cost:+.1%})")
    finally:
        for api in apis.values():
            api.terminate()
            try:
                api.wait(timeout=15)
            except subprocess.TimeoutExpired:
                api.kill()
        sink.terminate()
        sink.wait(timeout=15)
        pg.cleanup()
        parent = pg.data_dir.parent
        if parent.exists():
            parent.rmdir()


if __name__ == "__main__":
    main()
