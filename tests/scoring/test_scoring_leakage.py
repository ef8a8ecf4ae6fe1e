"""Leakage: future transactions, fresh labels and foreign items never change a score."""

from __future__ import annotations

import random

import numpy as np
from scoring_helpers import DAY, T0, history, item, small_artifact, small_frame, tx

from fraud_scoring.dataset import _items, feature_matrix
from fraud_scoring.features import HISTORY_DAYS, compute_features
from fraud_scoring.model import validate_artifact
from fraud_scoring.scorer import Scorer
from fraud_scoring.types import History, HistoryItem


def _base_history() -> History:
    customer = [item(d, 20.0 + d, terminal=f"t{int(d) % 5}", fraud=d > 10) for d in (0.3, 1.5, 4, 9, 12, 20, 29)]
    terminal = [item(d, 33.0, customer=f"c{int(d)}", fraud=d in (8, 9, 11)) for d in (2, 6, 8, 9, 11, 16, 25, 33)]
    return history(customer, terminal)


def test_score_future_transactions_ignored() -> None:
    # GIVEN a scorer and a history
    scorer = Scorer(validate_artifact(small_artifact()))
    base = _base_history()
    before = scorer.score(tx(), base)
    # WHEN the caller also passes transactions later than the one being scored
    future_c = [item(-d, 5000.0, fraud=True, tx_id=f"fc{d}") for d in (0.001, 1, 3)]
    future_t = [item(-d, 5000.0, customer="z", fraud=True, tx_id=f"ft{d}") for d in (0.001, 2)]
    after = scorer.score(tx(), History(base.customer + tuple(future_c), base.terminal + tuple(future_t)))
    # THEN nothing changes
    assert after == before


def test_score_labels_younger_than_delay_ignored() -> None:
    scorer = Scorer(validate_artifact(small_artifact()))
    base = _base_history()
    terminal, customer = (tuple(map(HistoryItem._make, side)) for side in (base.terminal, base.customer))
    before = scorer.score(tx(), base)
    # Flip every label of transactions younger than 7 days, and add a label arriving after t.
    flipped = tuple(i._replace(fraud=not i.fraud) if i.timestamp > T0 - 7 * DAY else i for i in terminal)
    late = tuple(i._replace(fraud=True, label_time=T0 + 60) if i.timestamp <= T0 - 7 * DAY else i for i in customer)
    assert scorer.score(tx(), History(base.customer, flipped)) == before
    # Labels arriving after t are not known at t: the same as no label at all.
    unlabelled = tuple(i._replace(fraud=None) for i in customer)
    assert compute_features(tx(), History(late, base.terminal)) == compute_features(
        tx(), History(unlabelled, base.terminal)
    )


def test_score_foreign_old_and_duplicate_items_ignored() -> None:
    scorer = Scorer(validate_artifact(small_artifact()))
    base = _base_history()
    before = scorer.score(tx(), base)
    noise_c = [
        item(1.0, 999.0, customer="someone-else", tx_id="n1"),
        item(HISTORY_DAYS + 0.01, 999.0, fraud=True, tx_id="n2"),
        item(0.0, 999.0)._replace(transaction_id="now"),  # the scored transaction itself
    ]
    noise_t = [item(9.0, fraud=True, customer="q", terminal="other", tx_id="n3")]
    after = scorer.score(tx(), History(base.customer + tuple(noise_c), base.terminal + tuple(noise_t)))
    assert after == before


def test_batch_features_future_rows_do_not_change_values() -> None:
    # GIVEN the simulated table and some rows in the middle of it
    frame = small_frame()
    rows = np.flatnonzero(frame["TX_DATETIME"].between("2018-05-10", "2018-05-11").to_numpy())[::7]
    cutoff = frame["TS"].to_numpy()[rows].max()
    # WHEN features are computed with the whole table vs only the past up to the last row
    full = feature_matrix(frame, rows)
    past = feature_matrix(frame[frame["TS"] <= cutoff], rows)
    # THEN they are identical
    np.testing.assert_array_equal(full, past)


def test_batch_features_equal_serving_features_with_unsliced_history() -> None:
    # The batch path slices histories for speed; the serving function given each entity's whole
    # (unsliced, unordered) history must produce exactly the same vector.
    frame = small_frame()
    rng = random.Random(0)
    candidates = np.flatnonzero(frame["TX_DATETIME"].between("2018-05-10", "2018-05-28").to_numpy())
    rows = np.array(sorted(rng.sample(candidates.tolist(), 60)))
    batch = feature_matrix(frame, rows)
    items = _items(frame, float("inf"), 7)
    by_customer: dict[str, list] = {}
    by_terminal: dict[str, list] = {}
    for it in items:
        by_customer.setdefault(it.customer_id, []).append(it)
        by_terminal.setdefault(it.terminal_id, []).append(it)
    for k, row in enumerate(rows.tolist()):
        it = items[row]
        cust = by_customer[it.customer_id][::-1]
        term = by_terminal[it.terminal_id]
        rng.shuffle(term)
        f = compute_features(
            tx(it.amount, it.timestamp, it.customer_id, it.terminal_id, it.transaction_id),
            History(tuple(cust), tuple(term)),
        )
        np.testing.assert_array_equal(np.array(f), batch[k])
