"""Scorer behaviour: determinism, thresholds from config, rules and reasons."""

from __future__ import annotations

import pytest
from scoring_helpers import history, item, small_artifact, tx

from fraud_scoring import Decision, Scorer, Thresholds
from fraud_scoring.features import compute_features
from fraud_scoring.model import validate_artifact
from fraud_scoring.rules import DEFAULT_RULES


def _scorer(thresholds: Thresholds | None = None) -> Scorer:
    return Scorer(validate_artifact(small_artifact()), thresholds)


def _inflated_history():
    return history(customer=[item(d, 20.0, terminal=f"t{d}") for d in range(1, 25)])


def test_score_same_input_same_result() -> None:
    scorer = _scorer()
    hist = _inflated_history()
    first = scorer.score(tx(150.0), hist)
    again = _scorer().score(tx(150.0), hist)
    assert first == again
    assert 0.0 <= first.score <= 1.0
    assert first.reasons and all(isinstance(r, str) and r for r in first.reasons)
    assert first.model_version.startswith("gbdt-")


def test_score_amount_far_above_norm_rule_fires_and_escalates() -> None:
    # GIVEN thresholds so high the model alone would approve everything
    scorer = _scorer(Thresholds(review=1.0, decline=1.0))
    # WHEN a payment is 7.5x the card's median
    result = scorer.score(tx(150.0), _inflated_history())
    # THEN the rule fires, says why, and raises the decision to review (never decline)
    assert "amount_far_above_customer_norm" in result.rule_ids
    assert any("7.5x the card's 30-day median" in r for r in result.reasons)
    assert result.decision is Decision.REVIEW


def test_score_ordinary_payment_approved_with_reason() -> None:
    result = _scorer(Thresholds(review=0.99, decline=1.0)).score(tx(20.0), _inflated_history())
    assert result.decision is Decision.APPROVE
    assert result.rule_ids == ()
    assert result.reasons[0].startswith("model score") and "< review threshold 0.99" in result.reasons[0]


def test_score_terminal_streak_rule_reason() -> None:
    hist = history(
        terminal=[
            item(20.0, fraud=False, customer="a"),
            item(12.0, fraud=True, customer="b"),
            item(8.0, fraud=True, customer="c"),
        ]
    )
    result = _scorer(Thresholds(review=1.0, decline=1.0)).score(tx(), hist)
    assert "terminal_confirmed_fraud_streak" in result.rule_ids
    assert any("terminal's latest confirmed transactions are fraud" in r for r in result.reasons)


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.0, Decision.APPROVE),
        (0.29, Decision.APPROVE),
        (0.3, Decision.REVIEW),
        (0.79, Decision.REVIEW),
        (0.8, Decision.DECLINE),
    ],
)
def test_thresholds_decide_boundaries(score: float, expected: Decision) -> None:
    assert Thresholds(review=0.3, decline=0.8).decide(score) is expected


def test_thresholds_passed_per_call_override_default() -> None:
    scorer = _scorer(Thresholds(review=1.0, decline=1.0))
    f = compute_features(tx(20.0), _inflated_history())
    assert scorer.score_features(f, Thresholds(review=0.0, decline=0.0)).decision is Decision.DECLINE
    result = scorer.score_features(f)
    assert result.thresholds == Thresholds(review=1.0, decline=1.0)


def test_thresholds_from_mapping_valid_values() -> None:
    assert Thresholds.from_mapping({"review": 0.2, "decline": "0.9"}) == Thresholds(0.2, 0.9)
    assert Thresholds.from_mapping({}) == Thresholds()
    assert Thresholds.from_mapping({"decline": 1}) == Thresholds(review=Thresholds().review, decline=1.0)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"reveiw": 0.2}, r"unknown threshold key\(s\) \['reveiw'\]; allowed keys are \['review', 'decline'\]"),
        ({"review": "high"}, r"threshold 'review' must be a number in \[0, 1\], got 'high'"),
        ({"decline": 1.5}, r"threshold 'decline' must be a number in \[0, 1\], got 1.5"),
        ({"decline": True}, r"threshold 'decline' must be a number in \[0, 1\], got True"),
        ({"review": None}, r"threshold 'review' must be a number in \[0, 1\], got None"),
        ({"review": "nan"}, r"threshold 'review' must be a number"),
        ({"review": 0.9, "decline": 0.5}, r"'review' \(0.9\) must not exceed 'decline' \(0.5\)"),
    ],
)
def test_thresholds_from_mapping_invalid_raises_value_error(config: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Thresholds.from_mapping(config)


def test_rules_have_unique_ids_and_review_floor() -> None:
    ids = [r.rule_id for r in DEFAULT_RULES]
    assert len(ids) == len(set(ids))
    assert all(r.floor is Decision.REVIEW for r in DEFAULT_RULES)


def test_transaction_rejects_pan_like_card_fields() -> None:
    from fraud_scoring import Transaction

    with pytest.raises(ValueError, match="card_bin"):
        Transaction("x", 0.0, "c", "t", 1.0, card_bin="4111111111111111")
    with pytest.raises(ValueError, match="card_last4"):
        Transaction("x", 0.0, "c", "t", 1.0, card_last4="41111")
    ok = Transaction("x", 0.0, "c", "t", 1.0, card_bin="411111", card_last4="1111", card_hash="ab" * 32)
    assert ok.card_last4 == "1111"
