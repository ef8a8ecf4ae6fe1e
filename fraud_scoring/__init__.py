"""Shared fraud scoring core, imported by the Lambda analyzer and fraud-api.

Standard library only at run time. Typical use::

    scorer = Scorer.load()                        # validates the shipped artifact now
    result = scorer.score(transaction, history)   # history: last HISTORY_DAYS days
    result.decision, result.score, result.reasons

Training, the simulator and the benchmark (``fraud_scoring.train``, ``.simulator``,
``.benchmark``) need numpy/pandas/scikit-learn/LightGBM and are never imported from here.
"""

from fraud_scoring.features import (
    FEATURE_NAMES,
    HISTORY_DAYS,
    LABEL_DELAY_DAYS,
    Features,
    RuleFacts,
    compute_features,
)
from fraud_scoring.model import ArtifactError, Model, load_model
from fraud_scoring.rules import DEFAULT_RULES, Rule
from fraud_scoring.scorer import Scorer
from fraud_scoring.types import Decision, History, HistoryItem, HistoryRow, ScoreResult, Thresholds, Transaction

__all__ = [
    "DEFAULT_RULES",
    "FEATURE_NAMES",
    "HISTORY_DAYS",
    "LABEL_DELAY_DAYS",
    "ArtifactError",
    "Decision",
    "Features",
    "History",
    "HistoryItem",
    "HistoryRow",
    "Model",
    "Rule",
    "RuleFacts",
    "ScoreResult",
    "Scorer",
    "Thresholds",
    "Transaction",
    "compute_features",
    "load_model",
]
