"""Scorer behaviour: determinism, thresholds from config, rules and reasons."""

from __future__ import annotations

import math

import pytest
from scoring_helpers import DAY, T0, history, item, small_artifact, tx

from fraud_scoring import Decision, Scorer, Thresholds
from fraud_scoring.features import FEATURE_NAMES, Features, RuleFacts, compute_features
from fraud_scoring.model import Model, validate_artifact
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


def _quiet_features(**changes: float) -> Features:
    """Features on which no rule fires (a first payment, nothing known), with ``changes`` applied."""
    return compute_features(tx(100.0), history())._replace(**changes)


@pytest.mark.parametrize(
    ("changes", "rule_id", "reason"),
    [
        (
            {"customer_amount_to_median_30d": 5.0, "customer_nb_tx_30d": 6.0},
            "amount_far_above_customer_norm",
            "amount 100.00 is 5.0x the card's 30-day median (5 prior payments)",
        ),
        (
            {"customer_amount_to_median_30d": 5.44, "customer_nb_tx_30d": 9.0},
            "amount_far_above_customer_norm",
            "amount 100.00 is 5.4x the card's 30-day median (8 prior payments)",
        ),
        (
            {"customer_nb_high_ratio_prior_14d": 2.0, "customer_amount_to_median_30d": 3.0},
            "repeated_inflated_amounts",
            "card made 2 other payments above 3x its median in the last 14 days, and this one is too",
        ),
        ({"customer_nb_tx_1h": 5.0}, "velocity_burst", "5 payments by this card within one hour"),
    ],
)
def test_rule_at_threshold_fires_with_reason(changes: dict[str, float], rule_id: str, reason: str) -> None:
    # GIVEN thresholds the model alone never reaches, and features at the edge of one rule
    scorer = _scorer(Thresholds(review=1.0, decline=1.0))
    # WHEN
    result = scorer.score_features(_quiet_features(**changes))
    # THEN exactly that rule fires, says why, and escalates to review
    assert result.rule_ids == (rule_id,)
    assert result.reasons[1:] == (reason,)
    assert result.decision is Decision.REVIEW


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"customer_amount_to_median_30d": 4.99, "customer_nb_tx_30d": 6.0},  # not far enough above the median
        {"customer_amount_to_median_30d": 5.0, "customer_nb_tx_30d": 5.0},  # too few prior payments for a norm
        {"customer_nb_high_ratio_prior_14d": 1.0, "customer_amount_to_median_30d": 4.99},  # one inflated before
        {"customer_nb_high_ratio_prior_14d": 2.0, "customer_amount_to_median_30d": 2.99},  # this one is not inflated
        {"terminal_fraud_streak_days": 10.0, "terminal_streak_min_amount": 50.0},  # the model reads these, no rule
        {"customer_known_frauds": 0.0, "customer_days_since_known_fraud": 0.0},  # no fraud, however recent
        {"customer_known_frauds": 1.0, "customer_days_since_known_fraud": 1.0},  # a card's fraud alone: no rule
        {"customer_nb_tx_1h": 4.0},
    ],
)
def test_rule_silent_just_below_its_threshold(changes: dict[str, float]) -> None:
    result = _scorer(Thresholds(review=1.0, decline=1.0)).score_features(_quiet_features(**changes))
    assert result.rule_ids == ()
    assert len(result.reasons) == 1
    assert result.decision is Decision.APPROVE


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (
            RuleFacts(terminal_fraud_run_days=0.0, terminal_fraud_run_amount_ratio=1.5),
            "terminal's latest confirmed transactions are fraud (run began 0 days ago, one of them at 1.5x the "
            "terminal's median amount; no confirmed legitimate use since)",
        ),
        (
            RuleFacts(terminal_fraud_run_days=28.0, terminal_fraud_run_amount_ratio=0.0),
            "terminal's latest confirmed transactions are fraud (run began 28 days ago, one of them at 0.0x the "
            "terminal's median amount; no confirmed legitimate use since)",
        ),
    ],
)
def test_terminal_rule_at_its_edges_fires_with_reason(facts: RuleFacts, reason: str) -> None:
    # GIVEN quiet features and a model that never reaches review, WHEN the terminal's run is at an edge
    result = _scorer(Thresholds(review=1.0, decline=1.0)).score_features(_quiet_features(), facts=facts)
    # THEN the terminal rule alone fires, says why, and escalates to review
    assert result.rule_ids == ("terminal_confirmed_fraud_streak",)
    assert result.reasons[1:] == (reason,)
    assert result.decision is Decision.REVIEW


@pytest.mark.parametrize(
    ("days", "ratio", "why"),
    [
        (-1.0, -1.0, "no run: the newest known label is legitimate, or none is known"),
        (28.01, 1.0, "the run began more than 28 days ago"),
        (-0.01, 1.0, "a run cannot begin after the payment"),
        (3.0, 1.51, "every fraud of the run above 1.5x the terminal's median amount: a stolen card's"),
        (3.0, -0.01, "no ratio"),
    ],
)
def test_terminal_rule_silent_outside_its_edges(days: float, ratio: float, why: str) -> None:
    facts = RuleFacts(terminal_fraud_run_days=days, terminal_fraud_run_amount_ratio=ratio)
    result = _scorer(Thresholds(review=1.0, decline=1.0)).score_features(_quiet_features(), facts=facts)
    assert (result.rule_ids, result.decision) == ((), Decision.APPROVE), why


def test_score_velocity_rule_fires_on_fifth_payment_within_an_hour() -> None:
    # GIVEN four earlier payments by the card within the last hour, at different terminals
    burst = [item(minutes / (24 * 60), terminal=f"t{minutes}") for minutes in (5, 20, 40, 59)]
    scorer = _scorer(Thresholds(review=1.0, decline=1.0))
    # WHEN the fifth arrives
    result = scorer.score(tx(), history(customer=burst))
    # THEN the velocity rule fires; one payment fewer does not
    assert "velocity_burst" in result.rule_ids
    assert "5 payments by this card within one hour" in result.reasons
    assert "velocity_burst" not in scorer.score(tx(), history(customer=burst[:3])).rule_ids


def test_card_with_known_recent_fraud_is_left_to_the_model() -> None:
    # GIVEN the card's payment ten days ago was confirmed fraud (a label known after the 7-day delay)
    fraud = item(10.0, terminal="t7", fraud=True)
    scorer = _scorer(Thresholds(review=1.0, decline=1.0))
    # WHEN the card pays again an ordinary amount elsewhere
    result = scorer.score(tx(), history(customer=[fraud]))
    # THEN no rule holds it: the owner keeps using a compromised card, so most such payments are legitimate
    # (see rules.py); the model's card features still see the known fraud
    assert scorer.features(tx(), history(customer=[fraud])).customer_known_frauds == 1.0
    assert result.rule_ids == ()
    assert result.decision is Decision.APPROVE


def _scoring(probability: float) -> Scorer:
    """A scorer whose model answers ``probability`` for every payment, with the default rules."""
    logit = math.log(probability / (1.0 - probability))
    return Scorer(Model("gbdt-fixed", FEATURE_NAMES, 7.0, {}, lambda _features: logit), Thresholds(0.5, 0.85))


def test_terminal_rule_holds_a_payment_whatever_the_model_says() -> None:
    # GIVEN a model answering almost nothing, and a terminal whose newest confirmed labels are frauds
    facts = RuleFacts(terminal_fraud_run_days=3.0, terminal_fraud_run_amount_ratio=1.0)
    # WHEN scored, THEN the rule holds the payment: the model cannot know labels younger than its delay
    result = _scoring(0.001).score_features(_quiet_features(), facts=facts)
    assert (result.decision, result.rule_ids) == (Decision.REVIEW, ("terminal_confirmed_fraud_streak",))


def test_score_reads_labels_younger_than_the_model_delay_for_the_terminal_rule() -> None:
    # GIVEN payments at the terminal 5 and 3 days ago, at its usual amount, confirmed fraud by chargebacks
    # yesterday (too young for the model's 7-day delay), after a legitimate payment 20 days ago
    usual = [item(20.0, fraud=False, customer="a", label_time=T0 - 19 * DAY)]
    frauds = [item(d, fraud=True, customer=c, label_time=T0 - DAY) for d, c in ((5.0, "b"), (3.0, "c"))]
    cleared = item(2.0, fraud=False, customer="d", label_time=T0 - 3600.0)  # an analyst cleared one an hour ago
    scorer = _scoring(0.001)
    # WHEN a payment is scored there, before and after the analyst's label
    held = scorer.score(tx(), history(terminal=usual + frauds))
    after = scorer.score(tx(), history(terminal=[*usual, *frauds, cleared]))
    # THEN the rule holds it although the model's features see no streak; the newer legitimate label ends it
    assert scorer.features(tx(), history(terminal=usual + frauds)).terminal_fraud_streak_days == -1.0
    assert (held.decision, held.rule_ids) == (Decision.REVIEW, ("terminal_confirmed_fraud_streak",))
    assert (after.decision, after.rule_ids) == (Decision.APPROVE, ())


def test_a_stolen_cards_fraud_at_a_terminal_does_not_implicate_it() -> None:
    # GIVEN a terminal where payments are usually 40.00, and a confirmed fraud there of 300.00 (a stolen card
    # spending 7.5x) yesterday, or instead one of 60.00 (1.5x: an ordinary amount there)
    usual = [item(d, 40.0, fraud=None, customer=f"u{d}") for d in (1.5, 4.0, 9.0, 15.0)]
    big = item(1.0, 300.0, fraud=True, customer="thief", label_time=T0 - 3600.0)
    ordinary = item(1.0, 60.0, fraud=True, customer="victim", label_time=T0 - 3600.0)
    scorer = _scoring(0.001)
    # WHEN a payment is scored there
    # THEN the stolen card's fraud alone holds nothing; a fraud at an ordinary amount holds it
    assert scorer.score(tx(), history(terminal=[*usual, big])).rule_ids == ()
    assert scorer.score(tx(), history(terminal=[*usual, ordinary])).rule_ids == ("terminal_confirmed_fraud_streak",)


def test_rule_without_a_minimum_score_fires_whatever_the_model_says() -> None:
    # GIVEN a model answering almost nothing, and a card's fifth payment within the hour
    burst = _quiet_features(customer_nb_tx_1h=5.0)
    # WHEN scored
    result = _scoring(0.001).score_features(burst)
    # THEN the velocity rule (no minimum score) holds it
    assert result.rule_ids == ("velocity_burst",)
    assert result.decision is Decision.REVIEW


def test_score_repeated_inflated_rule_fires_on_third_inflated_payment_in_two_weeks() -> None:
    # GIVEN a card paying 20.00 daily, with two payments of 100.00 in the last 14 days
    usual = [item(d, 20.0, terminal=f"t{d}") for d in range(1, 11)]
    inflated = [item(d + 0.5, 100.0, terminal=f"x{d}") for d in (2, 9)]
    scorer = _scorer(Thresholds(review=1.0, decline=1.0))
    # WHEN a third inflated payment arrives
    result = scorer.score(tx(100.0), history(customer=usual + inflated))
    # THEN the rule fires; with only one earlier inflated payment it does not
    assert "repeated_inflated_amounts" in result.rule_ids
    assert "card made 2 other payments above 3x its median in the last 14 days, and this one is too" in result.reasons
    once = scorer.score(tx(100.0), history(customer=usual + inflated[:1]))
    assert "repeated_inflated_amounts" not in once.rule_ids
