"""compute_features against a straightforward reference over randomised histories.

The reference below is written from the conventions in ``fraud_scoring.features``' module doc,
one item at a time and without the module's shortcuts (columns, bisect, fast paths), with its
constants written out: 30-day customer windows, the label delay, 37 days for "nothing in the
history". The histories mix in what the module must ignore or handle: other customers and
terminals, copies of the scored transaction, items later than it or older than the history span,
unsorted order, equal timestamps, items exactly on window edges, missing and late labels.
"""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime

import pytest
from scoring_helpers import DAY, T0

from fraud_scoring.features import compute_features, compute_rule_facts
from fraud_scoring.types import History, HistoryItem, HistoryRow, Transaction


def _day(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def reference_features(tx: Transaction, history: History, delay_days: float = 7) -> tuple[float, ...]:
    t, amount, delay = tx.timestamp, tx.amount, delay_days * DAY
    start = t - (30 + max(delay_days, 7)) * DAY

    def own(rows: tuple[HistoryRow, ...], field: str, entity: str) -> list[HistoryItem]:
        kept = [
            it
            for it in map(HistoryItem._make, rows)
            if getattr(it, field) == entity and it.transaction_id != tx.transaction_id and start < it.timestamp <= t
        ]
        return sorted(kept, key=lambda it: it.timestamp)

    def between(items: list[HistoryItem], after: float, until: float = t) -> list[HistoryItem]:
        return [it for it in items if after < it.timestamp <= until]

    def known(it: HistoryItem) -> bool:
        return it.fraud is not None and it.timestamp <= t - delay and (it.label_time is None or it.label_time <= t)

    def calendar_days(ts: float) -> float:
        return float((_day(t).date() - _day(ts).date()).days)

    cust = own(history.customer, "customer_id", tx.customer_id)
    term = own(history.terminal, "terminal_id", tx.terminal_id)
    values = [amount, 1.0 if _day(t).weekday() >= 5 else 0.0, 1.0 if _day(t).hour < 7 else 0.0]
    for days in (1, 7, 30):
        window = between(cust, t - days * DAY)
        values += [len(window) + 1.0, (sum(it.amount for it in window) + amount) / (len(window) + 1)]
    for days in (1, 7, 30):
        window = between(term, t - delay - days * DAY, t - delay)
        nb_frauds = len([it for it in window if known(it) and it.fraud])
        values += [float(len(window)), nb_frauds / len(window) if window else 0.0]

    prior = [it.amount for it in between(cust, t - 30 * DAY)]
    recent = [it.amount for it in between(cust, t - 14 * DAY)]
    if prior:
        median = max(statistics.median(prior), 0.01)
        high = len([a for a in recent if a > 3 * median])
        values += [amount / median, max(recent) / median if recent else -1.0, float(high)]
    else:
        values += [-1.0, -1.0, 0.0]
    values.append(len(between(cust, t - 3600.0)) + 1.0)
    values.append((t - cust[-1].timestamp) / 3600.0 if cust else 37 * 24.0)
    seen_here = any(it.customer_id == tx.customer_id for it in between(term, t - 30 * DAY))
    values.append(0.0 if seen_here else 1.0)
    values.append(float(len(between(term, t - delay))))

    cust_frauds = [it for it in cust if known(it) and it.fraud]
    values.append(float(len(cust_frauds)))
    values.append((t - cust_frauds[-1].timestamp) / DAY if cust_frauds else 37.0)

    labelled = [it for it in term if known(it)]
    frauds = [it for it in labelled if it.fraud]
    legits = [it for it in labelled if not it.fraud]
    days_legit = (t - legits[-1].timestamp) / DAY if legits else 37.0
    cal_legit = calendar_days(legits[-1].timestamp) if legits else 37.0
    values.append((t - frauds[-1].timestamp) / DAY if frauds else 37.0)
    values.append(days_legit)
    newest_legit = max((i for i, it in enumerate(labelled) if not it.fraud), default=-1)
    streak = labelled[newest_legit + 1 :]  # the known frauds after the newest known legitimate one
    if streak:
        first = streak[0].timestamp
        values += [(t - first) / DAY, days_legit, float(len(streak)), calendar_days(first), cal_legit]
        values += [min(it.amount for it in streak), 0.0]
    else:
        values += [-1.0, -1.0, 0.0, -1.0, cal_legit, -1.0, cal_legit]
    return tuple(values)


def _random_case(rng: random.Random) -> tuple[Transaction, History, float]:
    delay_days = rng.choice((7, 7, 7, 3, 10))
    t = T0 + rng.uniform(0, 7 * DAY)
    # Window edges, exactly: an item there is in one window and out of the next.
    edges = [t, t - 3600.0] + [t - d * DAY for d in (1, 7, 14, 30, 37, 47)]
    edges += [t - delay_days * DAY - d * DAY for d in (0, 1, 7, 30)]
    amounts = [0.0, 0.0, 5.0, 12.5, 20.0, 20.0, 35.0, 80.0, 150.0, 400.0]

    def items(n: int, side: str) -> list[HistoryItem]:
        made: list[HistoryItem] = []
        for i in range(n):
            roll = rng.random()
            if roll < 0.15:
                ts = rng.choice(edges)
            elif roll < 0.2 and made:
                ts = rng.choice(made).timestamp  # simultaneous payments
            else:
                ts = t - rng.uniform(-2, 50) * DAY
            fraud = rng.choice((True, False, False, False, None))
            label_time = rng.choice((None, ts + delay_days * DAY, ts + rng.uniform(0, 20) * DAY, t, t + 1.0))
            customer = "c1" if side == "c" or rng.random() < 0.15 else f"c{rng.randrange(2, 9)}"
            terminal = "t1" if side == "t" or rng.random() < 0.3 else f"t{rng.randrange(2, 9)}"
            if rng.random() < 0.05:  # an item of another entity passed by mistake
                customer, terminal = "c-other", "t-other"
            tx_id = f"{side}{i}"
            if rng.random() < 0.03:  # the scored transaction itself, as a store that already holds it returns it
                tx_id, ts = "now", t
            made.append(HistoryItem(tx_id, ts, rng.choice(amounts), customer, terminal, fraud, label_time))
        if rng.random() < 0.6:
            made.sort(key=lambda it: it.timestamp)
        return made

    tx = Transaction("now", t, "c1", "t1", rng.choice(amounts))
    history = History(tuple(items(rng.randrange(0, 60), "c")), tuple(items(rng.randrange(0, 40), "t")))
    return tx, history, delay_days


@pytest.mark.parametrize("seed", range(8))
def test_features_equal_reference_on_random_histories(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(150):
        # GIVEN a random transaction, history and label delay
        tx, history, delay_days = _random_case(rng)
        # WHEN the features are computed
        features = compute_features(tx, history, delay_days)
        # THEN every one equals the reference computation's, exactly
        assert tuple(features) == reference_features(tx, history, delay_days), (tx, history, delay_days)


@pytest.mark.parametrize("seed", range(4))
def test_features_read_plain_tuples_as_history_items(seed: int) -> None:
    # fraud-api passes database rows (plain tuples in HistoryItem's field order), not HistoryItems
    rng = random.Random(1000 + seed)
    for _ in range(150):
        # GIVEN a random case, and the same history as plain tuples
        tx, history, delay_days = _random_case(rng)
        plain = History(tuple(row[:] for row in history.customer), tuple(row[:] for row in history.terminal))
        assert not any(isinstance(row, HistoryItem) for row in plain.customer + plain.terminal)
        # WHEN the features and rule facts are computed from both
        # THEN they are the same (the reference reads the named items)
        assert tuple(compute_features(tx, plain, delay_days)) == reference_features(tx, history, delay_days)
        assert compute_rule_facts(tx, plain, delay_days) == compute_rule_facts(tx, history, delay_days)


def test_reference_features_worked_example() -> None:
    # The reference itself on a small history worked out by hand (T0 is a Wednesday at noon):
    # customer: 10.0 two days ago, 30.0 twenty days ago (known fraud); terminal: a known
    # legitimate payment 9 days ago, then a known fraud 7.5 days ago (a one-item streak, at midnight),
    # and the customer's payment 2 days ago, unlabelled; listed newest first.
    tx = Transaction("now", T0, "c1", "t1", 40.0)
    customer = (
        HistoryItem("a", T0 - 20 * DAY, 30.0, "c1", "t9", True, None),
        HistoryItem("b", T0 - 2 * DAY, 10.0, "c1", "t1", False, None),
    )
    terminal = (
        HistoryItem("b", T0 - 2 * DAY, 10.0, "c1", "t1", None, None),
        HistoryItem("c", T0 - 7.5 * DAY, 5.0, "c7", "t1", True, None),
        HistoryItem("d", T0 - 9 * DAY, 8.0, "c8", "t1", False, None),
    )
    expected = (
        *(40.0, 0.0, 0.0),
        *(1.0, 40.0, 2.0, 25.0, 3.0, 80.0 / 3),
        *(1.0, 1.0, 2.0, 0.5, 2.0, 0.5),
        *(2.0, 0.5, 0.0),
        *(1.0, 48.0, 0.0, 1.0),
        *(1.0, 20.0),
        *(7.5, 9.0, 7.5, 9.0, 1.0, 7.0, 9.0, 5.0, 0.0),
    )
    assert reference_features(tx, History(customer, terminal)) == expected
    assert tuple(compute_features(tx, History(customer, terminal))) == expected
