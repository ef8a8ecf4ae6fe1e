"""End to end through local mode: transactions/s from POST to a scored item, and POST-to-decision delay.

Run from the repository root: ``.venv/bin/python benchmarks/e2e.py [--transactions 1000]
[--latency-transactions 200] [--latency-rate 5] [--batching-window 1.0]`` (``make bench``).

Starts local mode (``fraud_local.LocalStack``: moto, embedded PostgreSQL, fraud-api, the gateway
with the real processor, the stream poller with the real analyzer and the shipped model) in a
temporary state folder on free ports, then:

1. Throughput: the demo's simulated traffic (``fraud_local.traffic``, realistic customer and
   terminal histories) sent as fast as the gateway accepts it (8 requests in flight); the figure
   is transactions / (first POST to last decision).
2. Delay: more traffic at a fixed rate well under that capacity, so the figure is the pipeline's
   own delay and not a backlog: decision time (the analyzer's ``analyzedAt``) minus POST time,
   both on this machine's clock; p50/p95/p99.

Everything shares this machine's cores (client, gateway, moto, analyzer); moto is the
bottleneck by far (see fraud_local/moto_patches.py). Stops everything at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fraud_local.aws import client  # noqa: E402
from fraud_local.config import Ports  # noqa: E402
from fraud_local.demo import Progress, SendOutcome, send, wait_until_scored  # noqa: E402
from fraud_local.stack import LocalStack, StackHandles  # noqa: E402
from fraud_local.traffic import build_traffic  # noqa: E402


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]

    return (
        f"p50 {at(0.50) * 1000:7.0f} ms   p95 {at(0.95) * 1000:7.0f} ms   p99 {at(0.99) * 1000:7.0f} ms"
        f"   max {ordered[-1] * 1000:7.0f} ms"
    )


def decision_times(handles: StackHandles) -> dict[str, float]:
    """``analyzedAt`` (epoch seconds) of every scored transaction (a benchmark may Scan)."""
    dynamodb = client("dynamodb", handles.aws_endpoint)
    params: dict[str, Any] = {
        "TableName": handles.resources.table_name,
        "ProjectionExpression": "transactionId, analyzedAt",
        "FilterExpression": "attribute_exists(analyzedAt)",
    }
    found: dict[str, float] = {}
    while True:
        page = dynamodb.scan(**params)
        for item in page["Items"]:
            moment = datetime.fromisoformat(item["analyzedAt"]["S"].replace("Z", "+00:00"))
            found[item["transactionId"]["S"]] = moment.timestamp()
        if "LastEvaluatedKey" not in page:
            return found
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def replay(handles: StackHandles, count: int, rate: float, seed: int, label: str) -> tuple[SendOutcome, float]:
    """Send ``count`` simulated transactions at ``rate``; returns the outcome and the seconds until
    the last one was scored (counted from the first POST)."""
    traffic = build_traffic(count, seed, datetime.now(tz=UTC).date())
    out = sys.stdout
    sent = asyncio.run(send(handles, traffic, rate, Progress(label, len(traffic.bodies), out)))
    scoring = wait_until_scored(handles, sent.completed, Progress("scoring", len(sent.completed), out))
    return sent, sent.seconds + scoring


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--transactions", type=int, default=1000, help="throughput phase (default 1000)")
    parser.add_argument("--latency-transactions", type=int, default=200, help="delay phase (default 200)")
    parser.add_argument("--latency-rate", type=float, default=5.0, help="delay phase rate per second (default 5)")
    parser.add_argument("--batching-window", type=float, default=1.0, help="stream batching window, s (deployed: 1)")
    args = parser.parse_args(argv)

    load = os.getloadavg()[0]
    print(
        f"local mode end to end: {os.cpu_count()} CPUs, load average {load:.1f} before start; "
        f"shipped model; stream batching window {args.batching_window:g} s (deployed: 1 s)"
    )
    with tempfile.TemporaryDirectory(prefix="fraud-e2e-bench-") as state:
        stack = LocalStack(Path(state), Ports(0, 0, 0), batching_window_s=args.batching_window)
        handles = stack.start()
        try:
            sent, total = replay(handles, args.transactions, math.inf, 1, "sending")
            stored = sent.statuses.get(201, 0)
            print(f"1. throughput, {stored:,} simulated transactions sent as fast as accepted (8 in flight):")
            print(f"   POST /transactions accepted   {stored / sent.seconds:6.1f}/s   {percentiles(sent.post_seconds)}")
            print(f"   POST to scored item           {stored / total:6.1f} transactions/s  ({total:.1f} s in all)")
            sent, _ = replay(handles, args.latency_transactions, args.latency_rate, 2, "sending")
            decided = decision_times(handles)
            delays = [decided[tid] - sent.sent_at[tid] for tid in sent.completed if tid in decided]
            print(f"2. delay, {len(delays):,} transactions at {args.latency_rate:g}/s:")
            print(f"   POST to decision              {percentiles(delays)}")
            print(
                f"   (mean {statistics.fmean(delays) * 1000:.0f} ms; the batching window alone adds up to "
                f"{args.batching_window * 1000:.0f} ms)"
            )
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
