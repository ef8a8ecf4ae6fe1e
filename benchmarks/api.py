"""fraud-api latency under load: POST /api/v1/score at fixed request rates (``make bench``).

Run from the repository root: ``.venv/bin/python benchmarks/api.py [--duration 15] [--workers 2]``.

1. Starts an embedded PostgreSQL (Unix socket only, durability settings left at their defaults),
   applies the migrations and seeds a history shaped like the fraud handbook's simulator: 5,000
   customers paying ~3 times a day at 10,000 terminals over the 37 days the scorer reads, with
   fraud labels on part of the older transactions (~555,000 rows; ``benchmarks/support``).
2. Starts fraud-api under the image's uvicorn command on 127.0.0.1 (uvloop + httptools, N workers,
   JSON access logs at INFO as in production, discarded) with the shipped model.
3. Drives POST /api/v1/score with locust (as a library, FastHttpUser) at constant rates: rate/2
   simulated clients, each sending one request every 0.5 s from a random phase, so a slow answer
   holds back few requests (little coordinated omission below 500 ms); latencies are the
   client-side times of requests completed in the measured window (after the ramp-up).
   Prints target and achieved rate, p50/p95/p99/max latency, errors, and where the CPU went.
4. Searches the highest rate whose p99 stays <= 50 ms without errors (bounded steps).
Goodput under overload and the comparison with fraud-api's floors: ``benchmarks/goodput.py``.

Everything runs on this machine: the load generator, the service and PostgreSQL share its cores,
so the figures are a lower bound for the service alone. Stops everything at the end.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
import locust  # noqa: F401 - importing locust monkey-patches the standard library for gevent
import psutil
from locust import FastHttpUser, task
from locust.env import Environment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.support.load import JSON_HEADERS, SCORE_PATH, Traffic, percentile  # noqa: E402
from benchmarks.support.servers import (  # noqa: E402
    FRAUD_API,
    CpuMeter,
    ServerOptions,
    free_port,
    postmaster_pid,
    seeded_database,
    start_server,
    stop_servers,
)

P99_GOAL_MS = 10.0  # at 500 rps (the goal)
SEARCH_P99_MS = 50.0
PER_USER_RPS = 2.0  # many slow clients, so a slow response delays few requests (open-model-like)
SPAWN_RATE = 100.0  # users/s; locust warns above this


class ScoreUser(FastHttpUser):
    """One client sending score requests at ``period`` intervals (random initial phase)."""

    period = 1.0 / PER_USER_RPS
    traffic = Traffic(5000, 10000)

    def on_start(self) -> None:
        gevent.sleep(random.uniform(0, self.period))
        self._next = time.monotonic()

    def wait_time(self) -> float:
        now = time.monotonic()
        self._next = max(self._next + self.period, now - self.period)  # never a catch-up burst
        return max(0.0, self._next - now)

    @task
    def score(self) -> None:
        self.client.post(SCORE_PATH, data=self.traffic.body(), headers=JSON_HEADERS, name="score")


@dataclass
class StepResult:
    target: float
    achieved: float
    requests: int
    errors: int
    p50: float
    p95: float
    p99: float
    max: float
    cpu: dict[str, float]
    error_kinds: dict[str, int]

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.achieved >= 0.95 * self.target


def run_step(host: str, rate: float, duration: float, meter: CpuMeter) -> StepResult:
    users = max(1, math.ceil(rate / PER_USER_RPS))
    ScoreUser.period = users / rate
    env = Environment(user_classes=[ScoreUser], host=host)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    recording = [False]

    def on_request(response_time: float, exception: BaseException | None, **_: Any) -> None:
        if recording[0]:
            latencies.append(response_time)
            if exception is not None:
                errors[str(exception)[:80]] += 1

    env.events.request.add_listener(on_request)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=SPAWN_RATE)
    # All users spawned, and each past its random initial phase, before measuring.
    gevent.sleep(users / SPAWN_RATE + ScoreUser.period + 1.0)
    before, started = meter.sample(), time.monotonic()
    recording[0] = True
    gevent.sleep(duration)
    recording[0] = False
    elapsed, after = time.monotonic() - started, meter.sample()
    runner.quit()
    ordered = sorted(latencies)
    cpu = {k: 100.0 * (after[k] - before[k]) / elapsed for k in before}
    return StepResult(
        rate,
        len(ordered) / elapsed,
        len(ordered),
        sum(errors.values()),
        percentile(ordered, 0.50),
        percentile(ordered, 0.95),
        percentile(ordered, 0.99),
        ordered[-1] if ordered else math.nan,
        cpu,
        dict(errors.most_common(3)),
    )


HEADER = (
    f"{'target rps':>10} {'achieved':>9} {'requests':>9} {'errors':>6} {'p50 ms':>7} {'p95 ms':>7} "
    f"{'p99 ms':>7} {'max ms':>7}   CPU % of one core (api / postgres / load generator)"
)


def show(r: StepResult) -> None:
    print(
        f"{r.target:>10.0f} {r.achieved:>9.1f} {r.requests:>9} {r.errors:>6} {r.p50:>7.2f} {r.p95:>7.2f} "
        f"{r.p99:>7.2f} {r.max:>7.1f}   {r.cpu['api']:.0f} / {r.cpu['postgres']:.0f} / {r.cpu['loadgen']:.0f}",
        flush=True,
    )
    for kind, count in r.error_kinds.items():
        print(f"{'':>10} {count} x {kind}")


def search(host: str, results: list[StepResult], args: argparse.Namespace, meter: CpuMeter) -> float | None:
    """Highest rate with p99 <= 50 ms and no errors: grow x1.25 from the best fixed rate, then bisect."""

    def passes(r: StepResult) -> bool:
        return r.ok and r.p99 <= SEARCH_P99_MS

    good = max((r.target for r in results if passes(r)), default=None)
    bad = min((r.target for r in results if not passes(r) and (good is None or r.target > good)), default=None)
    if good is None:
        return None
    for _ in range(args.search_steps):
        if bad is not None and bad - good <= max(25.0, 0.05 * good):
            break
        rate = (good + bad) / 2 if bad is not None else good * 1.25
        rate = round(rate / 10) * 10
        result = run_step(host, rate, args.search_duration, meter)
        show(result)
        if passes(result):
            good = rate
        else:
            bad = rate
    return good


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="200,500,1000", help="comma-separated request rates (rps)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured per rate")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (WEB_CONCURRENCY)")
    parser.add_argument("--pool-max", type=int, default=8, help="database connections per worker")
    parser.add_argument("--log-level", default="INFO", help="service log level (INFO: access log on)")
    parser.add_argument(
        "--synchronous-commit", choices=("on", "off"), default="on", help="FRAUD_API_DB_SYNCHRONOUS_COMMIT"
    )
    parser.add_argument("--search-duration", type=float, default=10.0)
    parser.add_argument("--search-steps", type=int, default=4, help="0 skips the search")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop", help="event loop (image: uvloop)")
    parser.add_argument("--server-log", type=Path, help="write the service's log here (default: discarded)")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--terminals", type=int, default=10000)
    args = parser.parse_args()
    ScoreUser.traffic = Traffic(args.customers, args.terminals)
    options = ServerOptions(
        args.workers, args.pool_max, args.log_level, args.synchronous_commit, args.loop, args.server_log
    )

    with seeded_database(args.customers, args.terminals) as pg:
        port = free_port()
        api = start_server(FRAUD_API, pg.uri, port, options)
        try:
            print(
                f"fraud-api: {args.workers} worker(s) x {args.pool_max} connections, synchronous_commit="
                f"{args.synchronous_commit}, {psutil.cpu_count()} CPUs, load average before: "
                + " ".join(f"{x:.2f}" for x in os.getloadavg())
            )
            host = f"http://127.0.0.1:{port}"
            meter = CpuMeter({"api": api.pid, "postgres": postmaster_pid(pg)})
            warm = run_step(host, 200, 5.0, meter)
            print(f"warm-up at 200 rps: p99 {warm.p99:.2f} ms", flush=True)
            print(HEADER)
            results = []
            for rate in (float(r) for r in args.rates.split(",")):
                results.append(run_step(host, rate, args.duration, meter))
                show(results[-1])
            at_500 = next((r for r in results if r.target == 500), None)
            if at_500 is not None:
                verdict = "met" if at_500.ok and at_500.p99 <= P99_GOAL_MS else "NOT met"
                print(f"goal p99 <= {P99_GOAL_MS:.0f} ms at 500 rps: {verdict} (p99 {at_500.p99:.2f} ms)")
            if args.search_steps > 0:
                print(f"searching the highest rate with p99 <= {SEARCH_P99_MS:.0f} ms and no errors:")
                best = search(host, results, args, meter)
                print(f"highest rate with p99 <= {SEARCH_P99_MS:.0f} ms: {best if best is not None else 'none'} rps")
        finally:
            stop_servers([api])


if __name__ == "__main__":
    main()
