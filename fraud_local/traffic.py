"""The demo's simulated world, shared by the live demo (``demo.py``) and its replay (``replay.py``).

The traffic is the fraud handbook's simulator (``fraud_scoring.simulator``) sized to the requested
number of transactions over the last few days or weeks (the last simulated day is yesterday, UTC,
so the reporter can report every day of it); each customer gets one test card number. The fraud
team answers on the simulated clock: an analyst reviews each flagged transaction within hours and
records the simulator's ground truth, a fraud the model let through comes back as a chargeback days
later. ``detection`` compares what was flagged with that ground truth, per fraud kind and per week.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fraud_common.card import random_letters

DEMO_DAYS = 7
DEMO_TERMINALS = 1000
_TX_PER_CUSTOMER_DAY = 1.8  # the simulator's mean (uniform 0-4 a day, ~3 % dropped)


SCENARIOS = {1: "amount above 220", 2: "compromised terminal", 3: "compromised card"}
"""The simulator's fraud scenarios (shared/reference/fraud-simulator.md, 1.4)."""
FLAGGED = frozenset({"review", "decline"})
REVIEW_HOURS = (1.0, 8.0)
"""An analyst reviews a flagged transaction this many hours after it (uniform): the same working day."""
CHARGEBACK_DAYS = (2.0, 10.0)
"""A missed fraud comes back as a chargeback this many days after it (uniform). Real chargebacks
can take weeks; within the terminal risk features' 7-day label delay they still teach the model."""
REVIEW = "analyst_review"
CHARGEBACK = "chargeback"


@dataclass(frozen=True)
class Traffic:
    bodies: list[dict[str, Any]]
    frauds: dict[str, int]
    """Fraudulent transaction ids and their scenario (``SCENARIOS``)."""
    days: list[date]


def luhn_complete(prefix: str) -> str:
    """``prefix`` plus the Luhn check digit."""
    total = 0
    for i, char in enumerate(reversed(prefix)):
        digit = int(char)
        if i % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return prefix + str((10 - total % 10) % 10)


def build_traffic(count: int, seed: int, today: date, days: int = DEMO_DAYS) -> Traffic:
    """``count`` simulated transactions on the ``days`` days before ``today``, in time order."""
    from fraud_scoring.simulator import SimulatorConfig, simulate  # numpy/pandas: demo only

    # 1,000 terminals on the simulator's 100 x 100 grid leave ~8 within reach of each customer
    # (radius 5), so nearly every customer transacts; customers are added until there is enough.
    customers = max(10, math.ceil(count / (days * _TX_PER_CUSTOMER_DAY) * 1.1))
    frame = simulate(seed, SimulatorConfig(n_customers=customers, n_terminals=DEMO_TERMINALS, n_days=days))
    while len(frame) < count:
        customers = math.ceil(customers * 1.25)
        frame = simulate(seed, SimulatorConfig(n_customers=customers, n_terminals=DEMO_TERMINALS, n_days=days))
    frame = frame.head(count)
    start = datetime.combine(today - timedelta(days=days), datetime.min.time(), tzinfo=UTC)
    run = random_letters(6)  # a second demo on the same running system gets new ids
    bodies: list[dict[str, Any]] = []
    frauds: dict[str, int] = {}
    for row in frame.itertuples(index=False):
        transaction_id = f"demo-{run}-{row.TRANSACTION_ID:06d}"
        moment = start + timedelta(seconds=int(row.TX_TIME_SECONDS))
        bodies.append(
            {
                "transactionId": transaction_id,
                "timestamp": moment.isoformat().replace("+00:00", "Z"),
                "customerId": f"cust-{row.CUSTOMER_ID}",
                "terminalId": f"term-{row.TERMINAL_ID}",
                "amount": f"{row.TX_AMOUNT:.2f}",
                "currency": "EUR",
                "cardNumber": luhn_complete(f"400000{row.CUSTOMER_ID:09d}"),
                "merchantCategoryCode": "5411",
                "channel": "pos",
            }
        )
        if row.TX_FRAUD:
            frauds[transaction_id] = int(row.TX_FRAUD_SCENARIO)
    traffic_days = sorted({date.fromisoformat(b["timestamp"][:10]) for b in bodies})
    return Traffic(bodies, frauds, traffic_days)


def epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class LabelCheck:
    """A moment on the simulated clock when a label may go back: ``source`` says which."""

    due: float
    """Simulated time (epoch seconds), also the label's labelTime."""
    transaction_id: str
    source: str
    """``REVIEW`` (sent when the transaction was flagged) or ``CHARGEBACK`` (a fraud not flagged)."""


def plan_label_checks(traffic: Traffic, seed: int) -> list[LabelCheck]:
    """A review check for every transaction and a chargeback check for every fraud, at a random
    delay in ``REVIEW_HOURS`` / ``CHARGEBACK_DAYS``, in time order; none due after the last transaction."""
    rng = random.Random(seed)
    end = epoch(traffic.bodies[-1]["timestamp"]) if traffic.bodies else 0.0
    checks = []
    for body in traffic.bodies:
        moment = epoch(body["timestamp"])
        checks.append(LabelCheck(moment + rng.uniform(*REVIEW_HOURS) * 3600, body["transactionId"], REVIEW))
        if body["transactionId"] in traffic.frauds:
            checks.append(
                LabelCheck(moment + rng.uniform(*CHARGEBACK_DAYS) * 86_400, body["transactionId"], CHARGEBACK)
            )
    return sorted((c for c in checks if c.due <= end), key=lambda c: c.due)


def label_for(check: LabelCheck, decision: str, frauds: dict[str, int]) -> dict[str, Any] | None:
    """The label body the fraud team sends for ``check`` given the analyzer's decision, or None:
    analysts review only flagged transactions; chargebacks come only for frauds that were approved."""
    if check.source == REVIEW and decision in FLAGGED:
        fraud = check.transaction_id in frauds
    elif check.source == CHARGEBACK and decision not in FLAGGED:
        fraud = True
    else:
        return None
    return {"fraud": fraud, "source": check.source, "labelTime": iso(check.due)}


def detection(traffic: Traffic, flagged: set[str]) -> dict[str, Any]:
    """What the flagged transactions caught of the simulator's frauds: overall, per kind, per week."""
    caught = flagged & traffic.frauds.keys()
    return {
        "flagged": len(flagged),
        "frauds": len(traffic.frauds),
        "caught": len(caught),
        "precision": len(caught) / len(flagged) if flagged else None,
        "recall": len(caught) / len(traffic.frauds) if traffic.frauds else None,
        "caught_by_kind": caught_by_kind(traffic.frauds, caught),
        "weeks": by_week(traffic, flagged),
    }


def caught_by_kind(frauds: dict[str, int], caught: set[str]) -> dict[str, tuple[int, int]]:
    """(caught, total) per fraud kind (``SCENARIOS``)."""
    return {
        name: (sum(1 for t in caught if frauds[t] == number), list(frauds.values()).count(number))
        for number, name in SCENARIOS.items()
    }


def by_week(traffic: Traffic, flagged: set[str]) -> list[dict[str, Any]]:
    """Per simulated week (7 days from the first day): frauds caught per kind, flagged, precision."""
    first = traffic.days[0] if traffic.days else date.min
    weeks: dict[int, list[str]] = {}
    for body in traffic.bodies:
        weeks.setdefault((date.fromisoformat(body["timestamp"][:10]) - first).days // 7, []).append(
            body["transactionId"]
        )
    rows = []
    for week, ids in sorted(weeks.items()):
        week_flagged = flagged.intersection(ids)
        frauds = {t: traffic.frauds[t] for t in ids if t in traffic.frauds}
        caught = week_flagged & frauds.keys()
        rows.append(
            {
                "week": week + 1,
                "caught_by_kind": caught_by_kind(frauds, caught),
                "flagged": len(week_flagged),
                "precision": len(caught) / len(week_flagged) if week_flagged else None,
            }
        )
    return rows


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def detection_lines(s: dict[str, Any]) -> list[str]:
    """``detection``'s figures as the summary prints them: overall, per kind, then per week."""
    return [
        f"  flagged        {s['flagged']:,} (review or decline)",
        f"  frauds caught  {s['caught']:,} of {s['frauds']:,} frauds in the traffic (recall {percent(s['recall'])})",
        "                 by kind: "
        + " · ".join(f"{name} {caught}/{total}" for name, (caught, total) in s["caught_by_kind"].items()),
        f"  precision      {percent(s['precision'])} of flagged transactions were fraud",
        "  by week        (labels are known to the terminal features from 7 days after their transaction)",
        *(
            f"    week {w['week']:>2}  "
            + " · ".join(f"{name} {caught}/{total}" for name, (caught, total) in w["caught_by_kind"].items())
            + f" · flagged {w['flagged']}, precision {percent(w['precision'])}"
            for w in s["weeks"]
        ),
    ]
