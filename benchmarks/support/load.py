"""Load for POST /api/v1/score: the request bodies, and the closed-loop clients of the goodput sweep."""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import gevent
from geventhttpclient import HTTPClient

from benchmarks.support.servers import CpuMeter
from fraud_common.card import random_letters

SCORE_PATH = "/api/v1/score"
JSON_HEADERS = {"Content-Type": "application/json"}
WARM_UP_S = 2.0  # every connection open, the queues at their steady state, before measuring


def luhn_pan(index: int) -> str:
    body = f"4{index:014d}"
    digits = [int(c) for c in body]
    total = sum(d if i % 2 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(reversed(digits)))
    return body + str((10 - total % 10) % 10)


@dataclass(frozen=True)
class Traffic:
    """New transactions of random seeded customers at random seeded terminals."""

    customers: int
    terminals: int

    def body(self) -> str:
        customer = random.randrange(self.customers)
        return json.dumps(
            {
                "transactionId": f"b-{random_letters(16)}",
                "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "customerId": f"cust-{customer}",
                "terminalId": f"term-{random.randrange(self.terminals)}",
                "amount": f"{random.uniform(5, 300):.2f}",
                "currency": "EUR",
                "cardNumber": luhn_pan(customer),
                "merchantCategoryCode": "5411",
                "channel": "pos",
            }
        )


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass(frozen=True)
class ClosedLoopResult:
    goodput: float
    """Answers 200 per second."""
    refused: float
    """Answers 503 per second."""
    errors: int
    p50: float
    p99: float
    """Of the attempts answered 200, in ms."""
    cpu_ms: dict[str, float]
    """CPU ms per answer 200, per process tree of the meter (refusals' cost included)."""
    loadgen_cpu: float
    """This process's CPU, % of one core: near 100 the clients, not the target, set the pace."""


def closed_loop(port: int, connections: int, duration: float, traffic: Traffic, meter: CpuMeter) -> ClosedLoopResult:
    """``connections`` clients, one keep-alive connection each, each sending its next request as
    soon as the last is answered and resending a refused one at once (as wrk does; Retry-After
    ignored): the worst case for admission control."""
    ok: list[float] = []
    refused = [0]
    errors: Counter[str] = Counter()
    recording = [False]
    stop = [False]

    def connect() -> HTTPClient:
        return HTTPClient("127.0.0.1", port, concurrency=1, connection_timeout=10, network_timeout=10)

    def client() -> None:
        http = connect()
        body = traffic.body()
        while not stop[0]:
            started = time.perf_counter()
            try:
                response = http.post(SCORE_PATH, body=body, headers=JSON_HEADERS)
                response.read()
                status = response.status_code
            except Exception as exc:  # a timeout or a reset is counted, and the client goes on
                errors[type(exc).__name__] += recording[0]
                http.close()
                http = connect()
                continue
            if status == 200:
                body = traffic.body()
                if recording[0]:
                    ok.append((time.perf_counter() - started) * 1000.0)
            elif status == 503:
                refused[0] += recording[0]
            else:
                errors[str(status)] += recording[0]
        http.close()

    clients = [gevent.spawn(client) for _ in range(connections)]
    gevent.sleep(WARM_UP_S)
    before, started = meter.sample(), time.monotonic()
    recording[0] = True
    gevent.sleep(duration)
    recording[0] = False
    elapsed, after = time.monotonic() - started, meter.sample()
    stop[0] = True
    gevent.joinall(clients, timeout=15)
    ordered = sorted(ok)
    ms_per_ok = 1000.0 / len(ordered) if ordered else math.nan
    return ClosedLoopResult(
        goodput=len(ordered) / elapsed,
        refused=refused[0] / elapsed,
        errors=sum(errors.values()),
        p50=percentile(ordered, 0.50),
        p99=percentile(ordered, 0.99),
        cpu_ms={name: (after[name] - before[name]) * ms_per_ok for name in meter.trees},
        loadgen_cpu=100.0 * (after["loadgen"] - before["loadgen"]) / elapsed,
    )
