"""The scorer: features, model, rules, thresholds -> ScoreResult. Standard library only."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fraud_scoring.features import NO_RULE_FACTS, Features, RuleFacts, compute_features, compute_rule_facts
from fraud_scoring.model import Model, load_model
from fraud_scoring.rules import DEFAULT_RULES, Rule
from fraud_scoring.types import Decision, History, ScoreResult, Thresholds, Transaction


class Scorer:
    """Scores transactions with a loaded model artifact and the rule layer.

    Build once per process (``Scorer.load()``) and reuse: loading validates and compiles the
    artifact, so every problem with it surfaces there and not at the first score.
    """

    def __init__(self, model: Model, thresholds: Thresholds | None = None, rules: Sequence[Rule] = DEFAULT_RULES):
        self.model = model
        self.thresholds = thresholds or Thresholds()
        self.rules = tuple(rules)

    @classmethod
    def load(cls, path: str | Path | None = None, thresholds: Thresholds | None = None) -> Scorer:
        """Load the artifact at ``path`` (default: the one shipped in the package).

        Raises
        ------
        ArtifactError
            Missing, corrupt or incompatible artifact.
        """
        return cls(load_model(path), thresholds)

    @property
    def model_version(self) -> str:
        return self.model.version

    def score(self, transaction: Transaction, history: History, thresholds: Thresholds | None = None) -> ScoreResult:
        """Compute features from ``history`` (filtered for leakage here) and score them."""
        return self.score_features(
            self.features(transaction, history), thresholds, self.rule_facts(transaction, history)
        )

    def features(self, transaction: Transaction, history: History) -> Features:
        """The features of ``transaction`` as this model sees them (its label delay filters ``history``)."""
        return compute_features(transaction, history, self.model.label_delay_days)

    def rule_facts(self, transaction: Transaction, history: History) -> RuleFacts:
        """What the rules may know beyond the features: labels newer than the model's delay."""
        return compute_rule_facts(transaction, history, self.model.label_delay_days)

    def probability(self, features: Features) -> float:
        """The model's fraud probability alone (no rules, no decision)."""
        return self.model.predict(features)

    def score_features(
        self,
        features: Features,
        thresholds: Thresholds | None = None,
        facts: RuleFacts = NO_RULE_FACTS,
    ) -> ScoreResult:
        """Decision for precomputed features: thresholds on the model score, raised by rules (which also read
        ``facts``, what ``rule_facts`` returns; by default no label beyond the features is known)."""
        th = thresholds or self.thresholds
        score = self.model.predict(features)
        decision = th.decide(score)
        if decision is Decision.DECLINE:
            reasons = [f"model score {score:.3f} >= decline threshold {th.decline:.2f}"]
        elif decision is Decision.REVIEW:
            reasons = [f"model score {score:.3f} >= review threshold {th.review:.2f}"]
        else:
            reasons = [f"model score {score:.3f} < review threshold {th.review:.2f}"]
        fired: list[str] = []
        for rule in self.rules:
            reason = rule.check(features, facts)
            if reason is not None:
                fired.append(rule.rule_id)
                reasons.append(reason)
                if rule.floor.severity > decision.severity:
                    decision = rule.floor
        return ScoreResult(score, decision, tuple(reasons), self.model.version, th, tuple(fired))
