"""What the rules know beyond the model's features: the terminal's newest label known now, whatever its age."""

from __future__ import annotations

import pytest
from scoring_helpers import DAY, T0, history, item, tx

from fraud_scoring.features import RuleFacts, compute_rule_facts
from fraud_scoring.types import HistoryItem

FRAUD_12_DAYS_AGO = item(12.0, fraud=True)  # label_time None: known from its timestamp + 7 days


def _facts(*terminal: HistoryItem, delay: float = 7.0) -> RuleFacts:
    return compute_rule_facts(tx(), history(terminal=list(terminal)), delay)


def test_a_payment_confirmed_legitimate_after_the_frauds_clears_the_terminal_however_recent() -> None:
    # GIVEN a known fraud 12 days ago, then a payment 2 days ago an analyst confirmed legitimate 1 day ago
    # (too young for the model's 7-day delay)
    cleared = item(2.0, fraud=False, label_time=T0 - DAY)
    # THEN the rules know the terminal's newest known label is legitimate
    assert _facts(FRAUD_12_DAYS_AGO, cleared) == RuleFacts(terminal_latest_label_legit=True)


@pytest.mark.parametrize(
    ("label", "why"),
    [
        (item(2.0, fraud=False, label_time=T0 + 60.0), "the analyst's label comes a minute after the payment scored"),
        (item(2.0, fraud=False), "no label time: known only from its timestamp + 7 days"),
        (item(2.0, fraud=None), "no label"),
        (item(2.0, fraud=False, label_time=T0 - DAY, terminal="t2"), "another terminal's payment"),
        (item(0.0, fraud=False, label_time=T0, tx_id="now"), "the scored payment itself (a retry)"),
        (item(-1.0, fraud=False, label_time=T0 - DAY), "a payment after the scored one"),
        (item(1.0, fraud=True, label_time=T0 - 3600.0), "a newer known label, and it is fraud"),
    ],
)
def test_the_terminal_is_not_cleared_by_what_is_not_a_newer_known_legitimate_label(
    label: HistoryItem, why: str
) -> None:
    assert _facts(FRAUD_12_DAYS_AGO, label) == RuleFacts(terminal_latest_label_legit=False), why


def test_without_any_known_label_nothing_is_cleared() -> None:
    assert _facts() == RuleFacts(terminal_latest_label_legit=False)
    assert _facts(item(3.0, fraud=None), item(1.0, fraud=None)) == RuleFacts(terminal_latest_label_legit=False)


def test_a_shorter_label_delay_makes_undated_labels_known_sooner() -> None:
    # GIVEN a legitimate label without a label time on a payment 4 days old, after a known fraud
    legit = item(4.0, fraud=False)
    # THEN with a 3-day delay it is known (4 >= 3), with the serving 7-day delay it is not
    assert _facts(FRAUD_12_DAYS_AGO, legit, delay=3.0).terminal_latest_label_legit is True
    assert _facts(FRAUD_12_DAYS_AGO, legit, delay=7.0).terminal_latest_label_legit is False
