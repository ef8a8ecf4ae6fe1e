"""The benchmark's metric functions against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraud_scoring.metrics import auc_roc, average_precision, card_precision_at_k, known_compromised_mask


def test_auc_roc_hand_computed() -> None:
    # 3 of the 4 (fraud, legit) pairs are ordered correctly.
    assert auc_roc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)


def test_auc_roc_ties_count_half() -> None:
    assert auc_roc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)


def test_average_precision_hand_computed() -> None:
    # Ranked: 0.8 (fraud) P=1 at R=.5; 0.4 (legit); 0.35 (fraud) P=2/3 at R=1 -> .5*1 + .5*2/3
    ap = average_precision(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    assert ap == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_card_precision_at_k_detected_cards_removed_on_later_days() -> None:
    # GIVEN two days; card A is caught on day 0 and would top day 1 again
    days = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    cards = np.array(["A", "A", "B", "C", "A", "B", "C", "D"])
    y = np.array([1, 0, 0, 1, 1, 0, 1, 0])
    s = np.array([0.9, 0.1, 0.8, 0.1, 0.95, 0.2, 0.7, 0.5])
    # WHEN k = 2
    cp = card_precision_at_k(days, cards, y, s, k=2)
    # THEN day 0: {A, B} -> 1/2; day 1 without A: {C, D} -> 1/2
    assert cp == pytest.approx(0.5)


def test_card_precision_at_k_card_max_score_and_label_divides_by_k() -> None:
    # One card, fraud on its lower-scored transaction: card label and score are the maxima.
    cp = card_precision_at_k(np.array([0, 0]), np.array(["A", "A"]), np.array([1, 0]), np.array([0.1, 0.9]), k=4)
    assert cp == pytest.approx(1 / 4)


def test_known_compromised_mask_removes_known_cards_per_day() -> None:
    # GIVEN the handbook split: train 07-25 (7 days), delay 7, test 08-08 (7 days)
    rows = [
        ("X", "2018-07-28 10:00:00", 1),  # fraud in training week: removed from every test day
        ("X", "2018-08-08 10:00:00", 0),
        ("Y", "2018-08-01 10:00:00", 1),  # fraud on the first delay day: known from test day 2
        ("Y", "2018-08-08 11:00:00", 0),
        ("Y", "2018-08-09 11:00:00", 0),
        ("Z", "2018-08-07 10:00:00", 1),  # last delay day: known only after the test week
        ("Z", "2018-08-14 10:00:00", 0),
        ("W", "2018-07-20 10:00:00", 1),  # before training: not part of the protocol's knowledge
        ("W", "2018-08-10 10:00:00", 0),
        ("V", "2018-08-15 00:00:00", 0),  # after the test window
    ]
    frame = pd.DataFrame(rows, columns=["CUSTOMER_ID", "TX_DATETIME", "TX_FRAUD"])
    frame["TX_DATETIME"] = pd.to_datetime(frame["TX_DATETIME"])
    # WHEN
    keep = known_compromised_mask(frame, pd.Timestamp("2018-07-25"), 7, 7, pd.Timestamp("2018-08-08"), 7)
    # THEN
    assert keep.tolist() == [False, False, False, True, False, False, True, False, True, False]
