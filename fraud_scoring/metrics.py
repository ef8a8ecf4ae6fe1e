"""Evaluation protocol and metrics of the handbook (reference section 3), numpy/pandas/sklearn.

Not imported by the serving path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score


def auc_roc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half), as scikit-learn computes it."""
    return float(roc_auc_score(y_true, scores))


def average_precision(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Average precision: sum over thresholds of (recall step) x precision, as scikit-learn."""
    return float(average_precision_score(y_true, scores))


def card_precision_at_k(
    days: np.ndarray, customers: np.ndarray, y_true: np.ndarray, scores: np.ndarray, k: int = 100
) -> float:
    """The handbook's daily card precision@k, averaged over days.

    Per day, each card (customer) gets the maximum score and the maximum label of its
    transactions that day; the top ``k`` cards by score are checked and the fraudulent ones
    among them count, divided by ``k`` (not by the number checked). Cards found fraudulent on an
    earlier day are removed from later days: they are assumed blocked.
    """
    frame = pd.DataFrame({"day": days, "card": customers, "y": y_true, "score": scores})
    detected: set[object] = set()
    daily: list[float] = []
    for _, day_frame in frame.groupby("day", sort=True):
        cards = day_frame[~day_frame["card"].isin(detected)].groupby("card").agg(y=("y", "max"), score=("score", "max"))
        # Stable sort on score, then card id, so ties are broken the same way on every run.
        top = cards.reset_index().sort_values(["score", "card"], ascending=[False, True], kind="stable").head(k)
        hits = top[top["y"] == 1]["card"]
        detected.update(hits.tolist())
        daily.append(len(hits) / k)
    return float(np.mean(daily)) if daily else 0.0


def known_compromised_mask(
    frame: pd.DataFrame,
    train_start: pd.Timestamp,
    train_days: int,
    delay_days: int,
    test_start: pd.Timestamp,
    test_days: int,
) -> np.ndarray:
    """True for test-window rows kept for evaluation (handbook section 3.1).

    A card is *known compromised* on test day T when it had a fraud in the training window or
    on any day from the training end up to T - (delay + 1) days; its transactions that day are
    dropped from the test set. Uses only labels older than the delay.
    """
    dt = frame["TX_DATETIME"]
    day0 = train_start.normalize()
    day_index = ((dt - day0).dt.days).to_numpy()
    fraud = frame["TX_FRAUD"].to_numpy() == 1
    customers = frame["CUSTOMER_ID"].to_numpy()
    test_first = int((test_start.normalize() - day0).days)
    keep = np.zeros(len(frame), dtype=bool)
    in_test = ((dt >= test_start) & (dt < test_start + pd.Timedelta(days=test_days))).to_numpy()
    for offset in range(test_days):
        test_day = test_first + offset
        # Known labels: frauds from the training start to T - delay - 1 (inclusive), and at
        # least the whole training window (which ends right before the delay period).
        last_known = max(test_day - delay_days - 1, train_days - 1)
        known = set(customers[fraud & (day_index >= 0) & (day_index <= last_known)].tolist())
        today = in_test & (day_index == test_day)
        keep |= today & ~np.isin(customers, list(known))
    return keep


def evaluate(
    days: np.ndarray, customers: np.ndarray, y_true: np.ndarray, scores: np.ndarray
) -> dict[str, float | int | None]:
    """The benchmark's JSON figures (4 decimals; the handbook prints 3). AUC and AP are
    ``None`` (JSON null) when the test set holds a single class."""
    y = np.asarray(y_true)
    both = len(np.unique(y)) == 2
    return {
        "auc_roc": round(auc_roc(y, scores), 4) if both else None,
        "average_precision": round(average_precision(y, scores), 4) if both else None,
        "card_precision_at_100": round(card_precision_at_k(days, customers, y, scores, 100), 4),
        "n_test": len(y),
        "n_fraud": int(y.sum()),
    }
