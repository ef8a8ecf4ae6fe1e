"""The promotion gate: the challenger against the current model on the latest labelled window neither saw.

Input: a frame as ``fraud_scoring.dataset.prepare`` returns it (the simulator's, or the export's
after ``dataset.from_export``), which holds the transactions with the labels known when it was
read, and the windows below. Both models score the same rows with the same features, computed
by the serving code with labels known before the evaluation window opens, exactly as the
handbook's protocol evaluates the shipped model (``fraud_scoring.train.protocol_metrics``).

Windows, with L the label delay (``features.LABEL_DELAY_DAYS``) and ``now`` the end of the data::

    [train_start, train_end)  gap of L days  [eval_start, eval_end)  last L days (labels not in yet)

The challenger trains on the first window; the evaluation window is the most recent one whose
labels have had L days to arrive. Not imported by the serving path (numpy/pandas/scikit-learn).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TypedDict

import numpy as np
import pandas as pd

from fraud_scoring.dataset import feature_matrix, window_rows
from fraud_scoring.features import LABEL_DELAY_DAYS, Features
from fraud_scoring.metrics import evaluate, known_compromised_mask
from fraud_scoring.scorer import Scorer
from fraud_scoring.types import Decision, Thresholds

GATED_METRICS = ("average_precision", "card_precision_at_100", "roc_auc")


@dataclass(frozen=True)
class Margins:
    """How far below the current model the challenger may fall on each metric and still pass.

    Defaults: one point of AP and of card precision@100 and half a point of AUC, about the
    spread between two trainings of the same data with different seeds on the simulator; a
    challenger worse than that is a regression, not noise.
    """

    average_precision: float = 0.01
    card_precision_at_100: float = 0.01
    roc_auc: float = 0.005


@dataclass(frozen=True)
class Windows:
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    eval_start: pd.Timestamp
    eval_end: pd.Timestamp
    label_delay_days: int

    @classmethod
    def latest(
        cls, now: pd.Timestamp, train_days: int, eval_days: int, label_delay_days: int = LABEL_DELAY_DAYS
    ) -> Windows:
        """The windows ending at ``now`` (whole UTC days)."""
        delay = pd.Timedelta(days=label_delay_days)
        eval_end = (now - delay).normalize()
        eval_start = eval_end - pd.Timedelta(days=eval_days)
        train_end = eval_start - delay
        return cls(train_end - pd.Timedelta(days=train_days), train_end, eval_start, eval_end, label_delay_days)

    @property
    def train_days(self) -> int:
        return (self.train_end - self.train_start).days

    @property
    def eval_days(self) -> int:
        return (self.eval_end - self.eval_start).days


class Verdict(TypedDict):
    """The card's ``gate`` entry."""

    passed: bool
    margin: dict[str, float]
    reasons: list[str]


@dataclass(frozen=True)
class Evaluation:
    challenger: dict[str, float | None]
    current: dict[str, float | None]
    rows: int
    """Transactions in the evaluation window (decision rates are over all of them; the ranking
    metrics drop cards already known compromised, as the handbook does)."""


def evaluate_models(
    frame: pd.DataFrame, windows: Windows, challenger: Scorer, current: Scorer, thresholds: Thresholds
) -> Evaluation:
    rows = window_rows(frame, windows.eval_start, windows.eval_days)
    known_before = (windows.eval_start - pd.Timestamp("1970-01-01")).total_seconds()
    features = [Features(*r) for r in feature_matrix(frame, rows, labels_known_before=known_before).tolist()]
    keep = known_compromised_mask(
        frame,
        windows.train_start,
        windows.train_days,
        windows.label_delay_days,
        windows.eval_start,
        windows.eval_days,
    )[rows]
    test = frame.iloc[rows]
    days = (test["TX_DATETIME"] - windows.eval_start).dt.days.to_numpy()[keep]
    customers = test["CUSTOMER_ID"].to_numpy()[keep]
    labels = test["TX_FRAUD"].to_numpy()[keep]

    def measure(scorer: Scorer) -> dict[str, float | None]:
        results = [scorer.score_features(f, thresholds) for f in features]
        scores = np.array([r.score for r in results])
        figures = evaluate(days, customers, labels, scores[keep])
        decisions = [r.decision for r in results]
        total = max(len(decisions), 1)
        return {
            "average_precision": figures["average_precision"],
            "card_precision_at_100": figures["card_precision_at_100"],
            "roc_auc": figures["auc_roc"],
            # With the rules, as the services decide: the analysts' queue and the declined share. The terminal
            # rule reads labels newer than the model's delay (RuleFacts), which this batch path does not
            # rebuild: both models share it, so the comparison is the models'.
            "review_rate": round(decisions.count(Decision.REVIEW) / total, 4),
            "decline_rate": round(decisions.count(Decision.DECLINE) / total, 4),
        }

    return Evaluation(measure(challenger), measure(current), len(rows))


def gate(challenger: dict[str, float | None], current: dict[str, float | None], margins: Margins) -> Verdict:
    """``{passed, margin, reasons}``: passed only when no gated metric drops by more than its margin."""
    allowed = asdict(margins)
    reasons = []
    passed = True
    for metric in GATED_METRICS:
        new, old = challenger[metric], current[metric]
        if new is None or old is None:
            passed = False
            reasons.append(f"{metric}: not computable on this window (a single class); cannot compare")
            continue
        ok = new >= old - allowed[metric]
        passed &= ok
        verdict = "ok" if ok else "worse by more than the margin"
        reasons.append(
            f"{metric}: challenger {new:.4f} vs current {old:.4f} (allowed drop {allowed[metric]}): {verdict}"
        )
    return Verdict(passed=passed, margin=allowed, reasons=reasons)
