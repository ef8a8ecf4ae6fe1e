"""``python -m fraud_local replay``: the demo's feedback loop without the services, in seconds.

It is the demo's loop itself: the same traffic (``build_traffic``), the same label plan and fraud team
(``plan_label_checks``, ``label_for``), the scorer local mode serves (the shipped model, or ``--model``)
at the thresholds local mode seeds. Each transaction is scored in time order from the history the
replay keeps, after every label due by its timestamp has been applied, as the gateway's label route
would have stored it.

The live demo keeps the same order (a transaction is sent only once every label due by its timestamp is
stored), so both decide alike; the e2e tier compares them on the same traffic. Four simulated weeks take
seconds here against many minutes through local mode, which is what comparing rules, thresholds or a
candidate model over several seeds needs.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from fraud_common.api_config import DEFAULT_THRESHOLDS
from fraud_common.transaction import InvalidTransaction, parse_transaction
from fraud_local.traffic import (
    DEMO_DAYS,
    FLAGGED,
    LabelCheck,
    Traffic,
    build_traffic,
    detection,
    detection_lines,
    epoch,
    label_for,
    percent,
    plan_label_checks,
)
from fraud_scoring.features import HISTORY_DAYS
from fraud_scoring.scorer import Scorer
from fraud_scoring.types import History, HistoryItem, Thresholds, Transaction

_DAY = 86_400.0
SEEDED_THRESHOLDS = Thresholds.from_mapping(DEFAULT_THRESHOLDS)
"""The thresholds local mode seeds its API configuration with: what a replay scores at."""


@dataclass(frozen=True)
class Replayed:
    decisions: dict[str, str]
    """The decision per transaction id."""
    labels: list[tuple[str, dict[str, Any]]]
    """(transaction id, label body) in the order the fraud team sent them."""


class _Entity:
    """One customer's or terminal's transactions, oldest first (timestamps kept apart for bisect)."""

    __slots__ = ("rows", "timestamps")

    def __init__(self) -> None:
        self.timestamps: list[float] = []
        self.rows: list[tuple[str, float, float, str, str]] = []

    def since(self, start: float, labels: dict[str, tuple[bool, float]]) -> tuple[HistoryItem, ...]:
        first = bisect.bisect_left(self.timestamps, start)
        return tuple(HistoryItem(*row, *labels.get(row[0], (None, None))) for row in self.rows[first:])


def replay(traffic: Traffic, scorer: Scorer, checks: Iterable[LabelCheck]) -> Replayed:
    """Score ``traffic`` in time order; before each transaction, send every label due by then."""
    pending = iter(checks)
    due = next(pending, None)
    decisions: dict[str, str] = {}
    known: dict[str, tuple[bool, float]] = {}
    sent: list[tuple[str, dict[str, Any]]] = []
    customers: dict[str, _Entity] = {}
    terminals: dict[str, _Entity] = {}
    for body in traffic.bodies:
        t = epoch(body["timestamp"])
        while due is not None and due.due <= t:
            # A transaction the gateway refused has no decision and gets no label, as in the live demo.
            decision = decisions.get(due.transaction_id)
            label = None if decision is None else label_for(due, decision, traffic.frauds)
            if label is not None:
                known[due.transaction_id] = (label["fraud"], due.due)
                sent.append((due.transaction_id, label))
            due = next(pending, None)
        try:
            parse_transaction(body)  # what the processor would refuse (an amount rounded to 0.00) is not scored
        except InvalidTransaction:
            continue
        transaction = Transaction(
            body["transactionId"], t, body["customerId"], body["terminalId"], float(body["amount"])
        )
        customer = customers.setdefault(transaction.customer_id, _Entity())
        terminal = terminals.setdefault(transaction.terminal_id, _Entity())
        start = t - HISTORY_DAYS * _DAY
        history = History(customer.since(start, known), terminal.since(start, known))
        decisions[transaction.transaction_id] = scorer.score(transaction, history).decision.value
        row = (transaction.transaction_id, t, transaction.amount, transaction.customer_id, transaction.terminal_id)
        for entity in (customer, terminal):
            entity.timestamps.append(t)
            entity.rows.append(row)
    return Replayed(decisions, sent)


def compare(scorers: Mapping[str, Scorer], *, count: int, seed: int, days: int, labels: bool) -> dict[str, Any]:
    """``detection`` per model, each replaying the same traffic with its own feedback loop (the fraud team
    reviews what that model flagged)."""
    traffic, checks = _demo_traffic(count, seed, days, labels)
    return {name: detection(traffic, _flagged(replay(traffic, scorer, checks))) for name, scorer in scorers.items()}


def comparison_lines(results: Mapping[str, dict[str, Any]]) -> list[str]:
    """One column per model: flagged, precision, recall, then caught/total per fraud kind."""
    names = list(results)
    width = max(14, *(len(name) + 2 for name in names))
    rows = [
        ("flagged", [f"{r['flagged']:,}" for r in results.values()]),
        ("precision", [percent(r["precision"]) for r in results.values()]),
        ("recall", [percent(r["recall"]) for r in results.values()]),
        *(
            (kind, [f"{r['caught_by_kind'][kind][0]}/{r['caught_by_kind'][kind][1]}" for r in results.values()])
            for kind in next(iter(results.values()))["caught_by_kind"]
        ),
    ]
    header = f"  {'':<22}" + "".join(f"{name:>{width}}" for name in names)
    return [header, *(f"  {label:<22}" + "".join(f"{v:>{width}}" for v in values) for label, values in rows)]


def _demo_traffic(count: int, seed: int, days: int, labels: bool) -> tuple[Traffic, list[LabelCheck]]:
    """The traffic the demo sends for these options (ending yesterday, as the demo's) and its label plan."""
    traffic = build_traffic(count, seed, datetime.now(tz=UTC).date(), days)
    return traffic, plan_label_checks(traffic, seed) if labels else []


def _flagged(result: Replayed) -> set[str]:
    return {tid for tid, decision in result.decisions.items() if decision in FLAGGED}


def run_replay(
    *, count: int, seed: int, days: int = DEMO_DAYS, labels: bool = True, scorer: Scorer, out: IO[str]
) -> dict[str, Any]:
    """Replay the demo's traffic for these options; print and return the detection summary."""
    traffic, checks = _demo_traffic(count, seed, days, labels)
    result = replay(traffic, scorer, checks)
    summary = {**detection(traffic, _flagged(result)), "labels_sent": len(result.labels)}
    out.write(
        f"Replayed {len(traffic.bodies):,} simulated transactions (seed {seed}, {len(traffic.days)} days) with model "
        f"{scorer.model_version} at review {scorer.thresholds.review:g} / decline {scorer.thresholds.decline:g}, "
        + (f"{len(result.labels):,} labels sent back\n" if labels else "no labels sent back\n")
    )
    out.write("\n".join(detection_lines(summary)) + "\n")
    return summary
