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
import statistics
import subprocess
import sys
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.support.load import Traffic, closed_loop
from benchmarks.support.servers import (
    FRAUD_API,
    CpuMeter,
    ServerOptions,
    free_port,
    seeded_database,
    start_server,
    stop_servers,
)
from fraud_api.app.core.config import Settings

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


def tracing_env(rate: float | None, sink_port: int) -> tuple[tuple[str, str], ...]:
    if rate is None:
        return (("FRAUD_API_TRACE_EXPORTER", "none"),)
    return (
        ("FRAUD_API_TRACE_EXPORTER", "otlp"),
        ("FRAUD_API_TRACE_SAMPLE_RATE", str(rate)),
        ("FRAUD_API_TRACE_OTLP_ENDPOINT", f"http://127.0.0.1:{sink_port}"),
    )


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
    # One worker, the image's event loop and HTTP parser, logs at INFO as in production.
    options = ServerOptions(workers=1, pool_max=8)
    traffic = Traffic(args.customers, args.terminals)
    sink_port = free_port()
    sink = start_sink(sink_port)
    apis: dict[str, subprocess.Popen[bytes]] = {}
    try:
        with seeded_database(args.customers, args.terminals) as pg:
            ports = {name: free_port() for name in TARGETS}
            for name, rate in TARGETS.items():
                target = replace(options, env=tracing_env(rate, sink_port))
                apis[name] = start_server(FRAUD_API, pg.uri, ports[name], target)
            meter = CpuMeter({name: api.pid for name, api in apis.items()})
            print(
                f"1 worker per target, {args.connections} connections, {args.duration:.0f} s per target and "
                f"round; default rate {DEFAULT_RATE}",
                flush=True,
            )
            for name in apis:
                closed_loop(ports[name], args.connections, 2.0, traffic, meter)  # warm: pools full, code compiled
            per_request: dict[str, list[float]] = {name: [] for name in apis}
            ratios: dict[str, list[float]] = {"default": [], "all": []}
            names = list(apis)
            for round_ in range(args.rounds):
                order = names[round_ % 3 :] + names[: round_ % 3]
                measured = {}
                for name in order:
                    # CPU of the target's whole process (the batch exporter's thread included) per 200.
                    result = closed_loop(ports[name], args.connections, args.duration, traffic, meter)
                    measured[name] = result.cpu_ms[name]
                    per_request[name].append(measured[name])
                for name in ratios:
                    ratios[name].append(measured[name] / measured["off"])
                print(
                    f"round {round_ + 1} ({' '.join(order)}): CPU ms/request "
                    + "  ".join(f"{n} {measured[n]:.3f}" for n in names)
                    + f"   ratio default/off {ratios['default'][-1]:.3f}, all/off {ratios['all'][-1]:.3f}",
                    flush=True,
                )
            stop_servers(list(apis.values()))  # before the database goes
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
        stop_servers(list(apis.values()))
        sink.terminate()
        sink.wait(timeout=15)


if __name__ == "__main__":
    main()
