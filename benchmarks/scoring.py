"""Scoring speed of fraud_scoring on one core, with the shipped model.

Run from the repository root: ``.venv/bin/python benchmarks/scoring.py``. Prints
* scores/s from precomputed features (model + rules + decision; target >= 50 000/s),
* p50/p99 latency of features + score from 30 days of history with ~100 transactions per
  customer (target p99 <= 100 us per call), and as a ratio to a floor measured beside it.
Histories are synthetic but shaped like the simulator's: the customer pays ~3.3 times a day at
nearby terminals, the terminal sees ~1 payment a day, some labels are fraud.
"""

from __future__ import annotations

import gc
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fraud_scoring import HISTORY_DAYS, History, HistoryItem, HistoryRow, Scorer, Transaction, compute_features

DAY = 86_400.0
NOW = 1_533_686_400.0  # 2018-08-08T00:00:00Z, the handbook's test week


def make_case(rng: random.Random, k: int) -> tuple[Transaction, History]:
    """One transaction with ~100 customer transactions over 30 days and its terminal's history."""
    t = NOW + rng.uniform(0, 7 * DAY)
    cust, term = f"c{k}", f"t{k}"
    mean = rng.uniform(5, 100)
    customer: list[HistoryItem] = []
    span = HISTORY_DAYS * DAY
    # 100 in the last 30 days, pro rata over the whole HISTORY_DAYS the caller fetches.
    n_customer = int(100 * HISTORY_DAYS / 30)
    for i in range(n_customer):
        ts = t - rng.uniform(1, span)
        amount = round(max(rng.gauss(mean, mean / 2), 0.0), 2)
        fraud = rng.random() < 0.01
        customer.append(HistoryItem(f"{k}-c{i}", ts, amount, cust, f"t{rng.randrange(80)}", fraud, ts + 7 * DAY))
    terminal: list[HistoryItem] = []
    compromised_since = t - rng.uniform(0, 40) * DAY if rng.random() < 0.2 else None
    for i in range(HISTORY_DAYS):
        ts = t - rng.uniform(1, span)
        fraud = compromised_since is not None and ts >= compromised_since
        terminal.append(HistoryItem(f"{k}-t{i}", ts, rng.uniform(5, 100), f"c{i}", term, fraud, ts + 7 * DAY))
    customer.sort(key=lambda it: it.timestamp)
    terminal.sort(key=lambda it: it.timestamp)
    amount = mean * (5 if rng.random() < 0.05 else 1)
    tx = Transaction(f"tx{k}", t, cust, term, round(amount, 2))
    return tx, History(tuple(customer), tuple(terminal))


def _fields(it: HistoryRow) -> HistoryRow:
    transaction_id, timestamp, amount, customer_id, terminal_id, fraud, label_time = it
    return (transaction_id, timestamp, amount, customer_id, terminal_id, fraud, label_time)


def _floor(history: History) -> None:
    for items in (history.customer, history.terminal):
        for it in items:
            it[1]  # the read (of the timestamp) is the point


def main() -> None:
    scorer = Scorer.load()
    rng = random.Random(20180808)
    cases = [make_case(rng, k) for k in range(500)]
    features = [compute_features(tx, hist) for tx, hist in cases]
    n_cust = statistics.mean(f.customer_nb_tx_30d - 1 for f in features)
    n_term = statistics.mean(len(h.terminal) for _, h in cases)

    # Throughput from precomputed features: full ScoreResult (model, rules, reasons, decision).
    rounds = 40
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            for f in features:
                scorer.score_features(f)
        best = min(best, time.perf_counter() - start)
    per_second = rounds * len(features) / best
    start = time.perf_counter()
    for _ in range(rounds):
        for f in features:
            scorer.probability(f)
    model_only = rounds * len(features) / (time.perf_counter() - start)

    # Latency of features + score, one call at a time, as a request handler would do it, with
    # the garbage collector on (as in production). Beside each call, in the same round, the
    # floor: one Python pass over the same (freshly built) history reading every item's
    # timestamp, the least any feature code must do. The machine's speed drifts, so the figure
    # that carries across runs is the ratio to the floor.
    wall: list[float] = []
    cpu: list[float] = []
    floor: list[float] = []
    best_per_case = [float("inf")] * len(cases)
    timing = [False]
    collections = [0]

    def count_collections(phase: str, _info: dict[str, int]) -> None:
        if timing[0] and phase == "start":
            collections[0] += 1

    gc.callbacks.append(count_collections)
    for round_ in range(5):
        for k, (tx, stored) in enumerate(cases):
            for measure in ("floor", "score") if (round_ + k) % 2 else ("score", "floor"):
                # As a handler would: build the history from the store's response, then use it.
                hist = History(
                    tuple(HistoryItem(*_fields(it)) for it in stored.customer),
                    tuple(HistoryItem(*_fields(it)) for it in stored.terminal),
                )
                timing[0] = True
                c0 = time.thread_time_ns()
                t0 = time.perf_counter_ns()
                if measure == "score":
                    scorer.score(tx, hist)
                else:
                    _floor(hist)
                t1 = time.perf_counter_ns()
                c1 = (time.thread_time_ns() - c0) / 1000
                timing[0] = False
                if measure == "floor":
                    floor.append(c1)
                    continue
                cpu.append(c1)
                wall.append((t1 - t0) / 1000)
                best_per_case[k] = min(best_per_case[k], c1)
    gc.callbacks.remove(count_collections)
    floor.sort()
    wall.sort()
    cpu.sort()
    best_per_case.sort()

    def pct(values: list[float], q: float) -> float:
        return values[min(int(len(values) * q), len(values) - 1)]

    print(f"model {scorer.model_version}, {len(features)} distinct cases")
    print(f"history: {n_cust:.0f} customer tx in 30 days, {n_term:.0f} terminal tx in {HISTORY_DAYS} days")
    print(f"scores/s from precomputed features (model+rules+decision): {per_second:,.0f}  [target >= 50,000]")
    print(f"model-only predictions/s: {model_only:,.0f}")
    p50, p99 = pct(cpu, 0.5), pct(cpu, 0.99)
    print(
        f"features+score per call, wall: p50 {pct(wall, 0.5):.1f} us, p99 {pct(wall, 0.99):.1f} us; "
        f"CPU: p50 {p50:.1f} us, p99 {p99:.1f} us ({len(cpu)} calls, {collections[0]} GC collections inside them)"
    )
    print(
        f"floor (one pass over the same history reading each timestamp), CPU: p50 {pct(floor, 0.5):.1f} us, "
        f"p99 {pct(floor, 0.99):.1f} us; features+score = {p50 / pct(floor, 0.5):.1f}x the floor at p50, "
        f"{p99 / pct(floor, 0.99):.1f}x at p99"
    )
    # The per-call tail also measures the machine (other jobs, the hypervisor): the best of 5
    # calls per case is the code's own cost, and its p99 across cases what a quiet core sees.
    print(
        f"features+score per case (best of 5, CPU): p50 {pct(best_per_case, 0.5):.1f} us, "
        f"p99 {pct(best_per_case, 0.99):.1f} us"
    )
    print(
        "speed targets:",
        "throughput " + ("met" if per_second >= 50_000 else "NOT met") + ",",
        f"features+score p99 per call <= 100 us {'met' if p99 <= 100 else 'NOT met'} ({p99:.0f} us),",
        f"p99 per case {'met' if pct(best_per_case, 0.99) <= 100 else 'NOT met'}",
    )


if __name__ == "__main__":
    main()
