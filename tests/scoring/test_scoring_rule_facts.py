"""What the rules know beyond the model's features: the terminal's newest run of frauds, labels as known now."""

from __future__ import annotations

import pytest
from scoring_helpers import DAY, T0, history, item, tx

from fraud_scoring.features import RuleFacts, compute_rule_facts
from fraud_scoring.types import HistoryItem

USUAL = [item(d, 40.0, fraud=None, customer=f"u{d}") for d in (11.0, 13.0, 20.0)]  # the terminal's usual 40.00


def _facts(*terminal: HistoryItem, delay: float = 7.0) -> RuleFacts:
    return compute_rule_facts(tx(), history(terminal=[*USUAL, *terminal]), delay)


def test_a_run_of_frauds_known_now_gives_its_start_and_its_most_ordinary_amount() -> None:
    # GIVEN frauds 6 and 2 days ago (30.00 and 80.00) confirmed yesterday, and an unlabelled payment between
    frauds = (item(6.0, 30.0, fraud=True, label_time=T0 - DAY), item(2.0, 80.0, fraud=True, label_time=T0 - DAY))
    # THEN the run began 6 days ago; its smallest amount over the terminal's median (40.00 of 40, 40, 40, 30,
    # 45, 80) is 0.75
    facts = _facts(frauds[0], item(4.0, 45.0, fraud=None), frauds[1])
    assert facts == RuleFacts(terminal_fraud_run_days=6.0, terminal_fraud_run_amount_ratio=0.75)


def test_a_known_legitimate_label_ends_the_run_however_recent() -> None:
    # GIVEN an older fraud, then a legitimate payment an analyst confirmed an hour ago, then a newer fraud
    old = item(9.0, 40.0, fraud=True, label_time=T0 - 5 * DAY)
    cleared = item(3.0, fraud=False, label_time=T0 - 3600.0)
    new = item(1.0, 20.0, fraud=True, label_time=T0 - 60.0)
    # THEN the run is the newest fraud alone; without the newer fraud there is no run
    assert _facts(old, cleared, new).terminal_fraud_run_days == 1.0
    assert _facts(old, cleared) == RuleFacts()


@pytest.mark.parametrize(
    ("label", "why"),
    [
        (item(2.0, fraud=True, label_time=T0 + 60.0), "the chargeback comes a minute after the payment scored"),
        (item(2.0, fraud=True), "no label time: known only from its timestamp + 7 days"),
        (item(2.0, fraud=None), "no label"),
        (item(2.0, fraud=True, label_time=T0 - DAY, terminal="t2"), "another terminal's payment"),
        (item(0.0, fraud=True, label_time=T0, tx_id="now"), "the scored payment itself (a retry)"),
        (item(-1.0, fraud=True, label_time=T0 - DAY), "a payment after the scored one"),
        (item(38.0, fraud=True, label_time=T0 - 30 * DAY), "older than the 37-day history"),
    ],
)
def test_what_is_not_a_fraud_known_now_at_this_terminal_makes_no_run(label: HistoryItem, why: str) -> None:
    assert _facts(label) == RuleFacts(), why


def test_a_terminal_with_frauds_only_runs_back_to_its_oldest_payment() -> None:
    # GIVEN a terminal whose every payment in the window is a known fraud (36 days is inside the 37-day history)
    frauds = [item(d, a, fraud=True, label_time=T0 - DAY) for d, a in ((36.0, 30.0), (5.0, 60.0), (2.0, 90.0))]
    facts = compute_rule_facts(tx(), history(terminal=frauds))
    # THEN the run began with the oldest, and its smallest amount is under the median (30 / 60)
    assert facts == RuleFacts(terminal_fraud_run_days=36.0, terminal_fraud_run_amount_ratio=0.5)


def test_a_label_known_exactly_at_the_payment_counts() -> None:
    assert _facts(item(2.0, fraud=True, label_time=T0)).terminal_fraud_run_days == 2.0


def test_without_any_known_label_there_is_no_run() -> None:
    assert _facts() == RuleFacts(terminal_fraud_run_days=-1.0, terminal_fraud_run_amount_ratio=-1.0)


def test_a_shorter_label_delay_makes_undated_labels_known_sooner() -> None:
    # GIVEN a fraud label without a label time on a payment 4 days old
    fraud = item(4.0, fraud=True)
    # THEN with a 3-day delay it is known (4 >= 3), with the serving 7-day delay it is not
    assert _facts(fraud, delay=3.0).terminal_fraud_run_days == 4.0
    assert _facts(fraud, delay=7.0) == RuleFacts()


def test_a_terminal_whose_amounts_are_all_zero_keeps_the_ratio_finite() -> None:
    # GIVEN a fraud of 0.50 at a terminal whose other payments were 0.00 (median 0.00)
    zeros = [item(d, 0.0, fraud=None) for d in (5.0, 6.0)]
    facts = compute_rule_facts(tx(), history(terminal=[*zeros, item(1.0, 0.5, fraud=True, label_time=T0 - 60.0)]))
    # THEN the median is floored at 0.01 like the card's (0.50 / 0.01)
    assert facts == RuleFacts(terminal_fraud_run_days=1.0, terminal_fraud_run_amount_ratio=50.0)
