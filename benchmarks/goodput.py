"""fraud-api beside its floors: goodput, latency and CPU per request against concurrency (``make bench``).

Run from the repository root: ``.venv/bin/python benchmarks/goodput.py [--levels 1,4,8,16,64,256]
[--rounds 2] [--duration 5] [--plot out/goodput.png] [--baseline DIR]``.

1. Seeds an embedded PostgreSQL like ``benchmarks/api.py`` (5,000 customers, 10,000 terminals,
   37 days, ~555,000 rows) and starts three targets on it, each under the image's uvicorn command
   (one worker and a pool of 8 by default): fraud-api, FLOOR-DB (FastAPI + psycopg pool, the same
   history rows read and the same row written, nothing else) and FLOOR-HTTP (FastAPI reads the
   body, answers a constant); see ``benchmarks/floors``. ``--baseline DIR`` adds another
   checkout's fraud-api (e.g. ``git worktree add``) as a fourth target: before/after in one run.
   ``--path`` adds FLOOR-PATH (fraud-api with the decision's own computations replaced by
   constants, ``benchmarks/floors/path.py``): what fraud-api's request path costs without them.
2. At each level, every target in turn (the order rotates per round), ``--rounds`` times: N
   closed-loop clients, one keep-alive connection each, resending a refused request at once (the
   worst case for admission control). Per point: answers 200/s (goodput), 503/s, p50/p99 of the
   attempts answered 200, and the CPU the target's process tree and PostgreSQL's used in that
   window, per answer 200. Targets run one at a time, so PostgreSQL's CPU in a window is the
   target's.
3. Prints, per target and level, the median and the spread (min-max) over the rounds; then the
   ratios fraud-api / FLOOR-DB, each computed within a round (the machine's speed drifts from
   minute to minute, a ratio within a round does not); the highest goodput with p99 <= 50 ms and
   nothing refused among the levels; p99 at 8 connections. Writes a PNG of goodput and p99
   against connections for every target.

The clients (gevent, this process), the targets and PostgreSQL share the machine's cores: a client
CPU near 100 % of one core means the clients, not the target, set the pace (FLOOR-HTTP's peak).
Stops everything at the end.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullLocator, StrMethodFormatter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.support.load import ClosedLoopResult, Traffic, closed_loop  # noqa: E402
from benchmarks.support.servers import (  # noqa: E402
    FLOOR_DB,
    FLOOR_HTTP,
    FLOOR_PATH,
    FRAUD_API,
    CpuMeter,
    ServerOptions,
    free_port,
    postmaster_pid,
    seeded_database,
    start_server,
    stop_servers,
)

API, DB, HTTP, BASELINE, PATH = "fraud-api", "FLOOR-DB", "FLOOR-HTTP", "baseline", "FLOOR-PATH"
P99_LIMIT_MS = 50.0  # the "maximum rate at p99 <= 50 ms"
CPU_GOAL = 1.3  # the "service CPU per request at most 1.3x FLOOR-DB's"
P99_AT_8_GOAL_MS = 10.0  # the goal at 8 connections on one worker


@dataclass(frozen=True)
class Point:
    target: str
    round_no: int
    connections: int
    result: ClosedLoopResult


def spread(values: list[float], fmt: str) -> str:
    """Median and (min-max) of values, NaN (no answer 200) left out."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "-"
    low, high = format(min(values), fmt), format(max(values), fmt)
    median = format(statistics.median(values), fmt)
    return median if low == high else f"{median} ({low}-{high})"


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def run(targets: dict[str, tuple[int, int]], levels: list[int], args: argparse.Namespace, pg_pid: int) -> list[Point]:
    """Every level against every target, interleaved, ``args.rounds`` times."""
    traffic = Traffic(args.customers, args.terminals)
    meters = {name: CpuMeter({"service": pid, "postgres": pg_pid}) for name, (_, pid) in targets.items()}
    names = list(targets)
    points = []
    for round_no in range(args.rounds):
        order = names[round_no % len(names) :] + names[: round_no % len(names)]
        for connections in levels:
            for name in order:
                result = closed_loop(targets[name][0], connections, args.duration, traffic, meters[name])
                points.append(Point(name, round_no, connections, result))
                print(
                    f"round {round_no + 1} {name:>10} {connections:>4} conns: {result.goodput:7.0f} 200/s "
                    f"{result.refused:7.0f} 503/s {result.errors} errors, p99 {result.p99:6.1f} ms, CPU ms/200 "
                    f"{result.cpu_ms['service']:.2f} service {result.cpu_ms['postgres']:.2f} PostgreSQL, "
                    f"clients {result.loadgen_cpu:.0f} % of a core",
                    flush=True,
                )
    return points


def report(points: list[Point], names: list[str], levels: list[int]) -> None:
    peaks: dict[tuple[str, int], float] = {}
    for p in points:
        peaks[p.target, p.round_no] = max(peaks.get((p.target, p.round_no), 0.0), p.result.goodput)
    print(
        f"\nmedian (min-max) over {len({p.round_no for p in points})} rounds; CPU: ms per answer 200 "
        "(the cost of refusals included)"
    )
    columns = ("200/s", "x peak", "503/s", "p50 ms", "p99 ms", "service CPU", "PostgreSQL CPU")
    print(f"{'target':>10} {'conns':>5} " + " ".join(f"{c:>19}" for c in columns) + " errors")
    for name in names:
        for level in levels:
            rows = [p for p in points if p.target == name and p.connections == level]
            cells = (
                spread([p.result.goodput for p in rows], ".0f"),
                spread([p.result.goodput / peaks[name, p.round_no] for p in rows], ".2f"),
                spread([p.result.refused for p in rows], ".0f"),
                spread([p.result.p50 for p in rows], ".1f"),
                spread([p.result.p99 for p in rows], ".1f"),
                spread([p.result.cpu_ms["service"] for p in rows], ".2f"),
                spread([p.result.cpu_ms["postgres"] for p in rows], ".2f"),
            )
            errors = sum(p.result.errors for p in rows)
            print(f"{name:>10} {level:>5} " + " ".join(f"{c:>19}" for c in cells) + f" {errors:>6}")

    by_key = {(p.target, p.round_no, p.connections): p.result for p in points}
    rounds = sorted({p.round_no for p in points})

    def ratios(level: int, value: Callable[[ClosedLoopResult], float]) -> str:
        return spread([ratio(value(by_key[API, r, level]), value(by_key[DB, r, level])) for r in rounds], ".2f")

    print(f"\nfraud-api / FLOOR-DB within each round (goal: CPU <= 1.3x, 200/s at {P99_LIMIT_MS:.0f} ms >= 0.9x)")
    print(f"{'conns':>5} " + " ".join(f"{c:>19}" for c in ("service CPU", "PostgreSQL CPU", "200/s")))
    for level in levels:
        ratio_cells = (
            ratios(level, lambda r: r.cpu_ms["service"]),
            ratios(level, lambda r: r.cpu_ms["postgres"]),
            ratios(level, lambda r: r.goodput),
        )
        print(f"{level:>5} " + " ".join(f"{c:>19}" for c in ratio_cells))

    def best_rate(name: str, round_no: int) -> float:
        fits = [by_key[name, round_no, c] for c in levels]
        fits = [r for r in fits if r.p99 <= P99_LIMIT_MS and r.refused == 0 and r.errors == 0]
        return max((r.goodput for r in fits), default=0.0)

    print(f"\nhighest 200/s among the levels with p99 <= {P99_LIMIT_MS:.0f} ms, none refused, no errors:")
    for name in names:
        print(f"  {name:>10}: {spread([best_rate(name, r) for r in rounds], '.0f')}")
    rate_ratios = [ratio(best_rate(API, r), best_rate(DB, r)) for r in rounds]
    print(f"  fraud-api / FLOOR-DB: {spread(rate_ratios, '.2f')} (goal >= 0.9)")
    if PATH in names:
        allowance = CPU_GOAL - 1.0
        print(
            f"\nfraud-api's service CPU above FLOOR-DB, within each round, in FLOOR-DB's (the goal allows "
            f"{allowance:.2f} for both parts together):"
        )
        print(f"{'conns':>5} " + " ".join(f"{c:>19}" for c in ("request path", "decision's work")))

        def share(high: str, low: str, r: int, level: int) -> float:
            """(high - low) service CPU, in FLOOR-DB's of the same round and level."""
            cpu = {name: by_key[name, r, level].cpu_ms["service"] for name in (high, low, DB)}
            return ratio(cpu[high] - cpu[low], cpu[DB])

        for level in levels:
            shares = (
                spread([share(PATH, DB, r, level) for r in rounds], ".2f"),
                spread([share(API, PATH, r, level) for r in rounds], ".2f"),
            )
            print(f"{level:>5} " + " ".join(f"{c:>19}" for c in shares))
    if 8 in levels:
        p99s = [by_key[API, r, 8].p99 for r in rounds]
        verdict = "met" if statistics.median(p99s) <= P99_AT_8_GOAL_MS else "NOT met"
        floor = spread([by_key[DB, r, 8].p99 for r in rounds], ".1f")
        print(
            f"p99 at 8 connections: fraud-api {spread(p99s, '.1f')} ms, FLOOR-DB {floor} ms; "
            f"goal <= {P99_AT_8_GOAL_MS:.0f} ms (median): {verdict}"
        )


def plot(points: list[Point], names: list[str], levels: list[int], path: Path, title: str) -> None:
    """Goodput and p99 against connections (log scales: FLOOR-HTTP is ten times the others), medians
    with the spread as error bars."""
    figure = Figure(figsize=(12, 5), layout="constrained")
    goodput_axes, p99_axes = figure.subplots(1, 2)
    metrics: tuple[tuple[Any, Callable[[ClosedLoopResult], float]], ...] = (
        (goodput_axes, lambda r: r.goodput),
        (p99_axes, lambda r: r.p99),
    )
    for name in names:
        for axes, value in metrics:
            series = [[value(p.result) for p in points if p.target == name and p.connections == c] for c in levels]
            series = [[v for v in s if not math.isnan(v)] or [math.nan] for s in series]  # NaN: no answer 200
            medians = [statistics.median(s) for s in series]
            below = [m - min(s) for m, s in zip(medians, series, strict=True)]
            above = [max(s) - m for m, s in zip(medians, series, strict=True)]
            axes.errorbar(levels, medians, yerr=[below, above], marker="o", capsize=3, label=name)
    goodput_axes.set(title="goodput", ylabel="answers 200 per second", yscale="log")
    goodput_axes.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))  # 200, 500, 2000...: readable labels
    for formatter in (goodput_axes.yaxis.set_major_formatter, goodput_axes.yaxis.set_minor_formatter):
        formatter(StrMethodFormatter("{x:.0f}"))
    p99_axes.set(title="p99 of the answers 200", ylabel="ms", yscale="log")
    p99_axes.axhline(P99_LIMIT_MS, color="grey", linestyle=":", linewidth=1)
    for axes in (goodput_axes, p99_axes):
        axes.set(xlabel="connections (closed loop)", xscale="log")
        axes.set_xticks(levels, [str(c) for c in levels])
        axes.xaxis.set_minor_locator(NullLocator())
        axes.grid(True, which="major", alpha=0.3)
        axes.legend()
    figure.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,4,8,16,64,256", help="closed-loop connection counts")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per target and level")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes per target")
    parser.add_argument("--pool-max", type=int, default=8, help="database connections per worker")
    parser.add_argument("--log-level", default="INFO", help="fraud-api's log level (INFO: access log on)")
    parser.add_argument("--synchronous-commit", choices=("on", "off"), default="on")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--terminals", type=int, default=10000)
    parser.add_argument("--plot", type=Path, default=ROOT / "out" / "goodput.png", help="where the PNG goes")
    parser.add_argument("--baseline", type=Path, help="another checkout whose fraud-api runs as a fourth target")
    parser.add_argument("--path", action="store_true", help="add FLOOR-PATH: fraud-api without the decision's work")
    args = parser.parse_args()
    levels = [int(c) for c in args.levels.split(",")]
    options = ServerOptions(args.workers, args.pool_max, args.log_level, args.synchronous_commit)
    apps = {API: (FRAUD_API, ROOT), DB: (FLOOR_DB, ROOT), HTTP: (FLOOR_HTTP, ROOT)}
    if args.baseline:
        apps[BASELINE] = (FRAUD_API, args.baseline.resolve())
    if args.path:
        apps[PATH] = (FLOOR_PATH, ROOT)

    started = time.monotonic()
    with seeded_database(args.customers, args.terminals) as pg:
        servers = []
        try:
            targets = {}
            for name, (app, root) in apps.items():
                port = free_port()
                servers.append(start_server(app, pg.uri, port, options, root))
                targets[name] = (port, servers[-1].pid)
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            print(
                f"{', '.join(targets)}: {args.workers} worker(s) x {args.pool_max} connections each, "
                f"{args.duration:g} s per point, {psutil.cpu_count()} CPUs, load average before: {load}",
                flush=True,
            )
            points = run(targets, levels, args, postmaster_pid(pg))
        finally:
            stop_servers(servers)
    names = list(apps)
    report(points, names, levels)
    title = (
        f"closed-loop clients resending refusals at once; {args.workers} worker(s), pool {args.pool_max}; "
        f"median and spread of {args.rounds} rounds x {args.duration:g} s"
    )
    plot(points, names, levels, args.plot, title)
    print(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
