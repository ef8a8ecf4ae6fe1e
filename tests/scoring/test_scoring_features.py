"""Feature definitions on small hand-made histories: window edges, the delay, empty windows."""

from __future__ import annotations

import pytest
from scoring_helpers import DAY, T0, history, item, tx

from fraud_scoring.features import FEATURE_NAMES, HANDBOOK_FEATURES, HISTORY_DAYS, Features, compute_features


def test_features_empty_history_defaults() -> None:
    # GIVEN a transaction with no history at all
    # WHEN features are computed
    f = compute_features(tx(80.0), history())
    # THEN counts include only the current transaction and every "nothing known" value is used
    assert (f.customer_nb_tx_1d, f.customer_nb_tx_7d, f.customer_nb_tx_30d) == (1.0, 1.0, 1.0)
    assert (f.customer_avg_amount_1d, f.customer_avg_amount_30d) == (80.0, 80.0)
    assert (f.terminal_nb_tx_1d, f.terminal_risk_1d, f.terminal_nb_tx_30d, f.terminal_risk_30d) == (0, 0, 0, 0)
    assert (f.terminal_nb_tx_7d, f.terminal_risk_7d) == (0, 0)
    assert f.customer_amount_to_median_30d == -1.0
    assert (f.customer_max_ratio_prior_14d, f.customer_nb_high_ratio_prior_14d) == (-1.0, 0.0)
    assert f.customer_new_terminal_30d == 1.0
    assert f.customer_hours_since_prev == HISTORY_DAYS * 24
    assert f.terminal_days_since_known_fraud == HISTORY_DAYS
    assert f.terminal_fraud_streak_days == -1.0
    assert f.terminal_unseen_days == HISTORY_DAYS


def test_features_handbook_names_are_the_first_fifteen() -> None:
    assert len(HANDBOOK_FEATURES) == 15
    assert FEATURE_NAMES[:3] == ("amount", "is_weekend", "is_night")
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES) == len(Features._fields)


def test_customer_window_exact_edge_is_excluded() -> None:
    # GIVEN items exactly 1 day old and just under 1 day old
    hist = history(customer=[item(1.0, 10.0, tx_id="edge"), item(1.0 - 1 / DAY, 30.0, tx_id="inside")])
    # WHEN
    f = compute_features(tx(50.0), hist)
    # THEN (t - 1 day, t]: the item at exactly t - 1 day is outside the 1-day window
    assert f.customer_nb_tx_1d == 2.0
    assert f.customer_avg_amount_1d == pytest.approx((30.0 + 50.0) / 2)
    assert f.customer_nb_tx_7d == 3.0
    assert f.customer_avg_amount_7d == pytest.approx(30.0)
    # AND the same holds at the 7-day and 1-hour edges
    edges = history(customer=[item(7.0, 10.0, tx_id="d7"), item(1 / 24, tx_id="h1"), item(3599 / DAY, tx_id="in")])
    g = compute_features(tx(50.0), edges)
    assert (g.customer_nb_tx_7d, g.customer_nb_tx_1h) == (3.0, 2.0)


def test_customer_windows_count_and_mean_include_current() -> None:
    hist = history(customer=[item(0.5, 10.0), item(3.0, 20.0), item(20.0, 30.0), item(31.0, 1000.0)])
    f = compute_features(tx(40.0), hist)
    assert (f.customer_nb_tx_1d, f.customer_nb_tx_7d, f.customer_nb_tx_30d) == (2.0, 3.0, 4.0)
    assert f.customer_avg_amount_30d == pytest.approx((10 + 20 + 30 + 40) / 4)


def test_terminal_windows_shifted_by_delay_edges() -> None:
    # GIVEN terminal items at exactly 7 days (inside: window ends at t - 7d inclusive),
    # just under 7 days (labels not yet known), and exactly 8 days (outside the 1-day window)
    hist = history(
        terminal=[
            item(7.0, fraud=True, customer="x", tx_id="a"),
            item(7.0 - 1 / DAY, fraud=True, customer="y", tx_id="b"),
            item(8.0, fraud=False, customer="z", tx_id="c"),
            item(7.5, fraud=False, customer="w", tx_id="d"),
            item(14.0, fraud=True, customer="v", tx_id="e"),  # exactly 7 days before the window's end
        ]
    )
    f = compute_features(tx(), hist)
    # THEN (t - 8d, t - 7d] holds the 7.0 and 7.5 items; 8.0 is in the 7-day window, 14.0 is not
    assert f.terminal_nb_tx_1d == 2.0
    assert f.terminal_risk_1d == pytest.approx(0.5)
    assert f.terminal_nb_tx_7d == 3.0
    assert f.terminal_risk_7d == pytest.approx(1 / 3)
    assert f.terminal_nb_tx_recent_7d == 1.0


def test_terminal_label_younger_than_delay_is_ignored() -> None:
    young = history(terminal=[item(6.9, fraud=True, customer="x")])
    f = compute_features(tx(), young)
    assert f.terminal_days_since_known_fraud == HISTORY_DAYS
    assert f.terminal_fraud_streak_days == -1.0
    assert f.terminal_risk_30d == 0.0


def test_terminal_label_time_in_future_is_unknown() -> None:
    # GIVEN an old enough transaction whose label only arrives after t
    late = item(10.0, fraud=True, customer="x", label_time=T0 + 1)
    f = compute_features(tx(), history(terminal=[late]))
    # THEN it counts as a transaction but not as a known fraud
    assert f.terminal_nb_tx_7d == 1.0
    assert f.terminal_risk_7d == 0.0
    assert f.terminal_days_since_known_fraud == HISTORY_DAYS


def test_terminal_streak_features_run_of_frauds_after_legit() -> None:
    hist = history(
        terminal=[
            item(20.0, 5.0, fraud=False, customer="a"),
            item(15.0, 12.0, fraud=True, customer="b"),
            item(12.0, 7.0, fraud=None, customer="c"),  # unknown: neither breaks nor extends
            item(9.0, 30.0, fraud=True, customer="d"),
            item(3.0, 99.0, fraud=False, customer="e"),  # too young to be known
        ]
    )
    f = compute_features(tx(), hist)
    assert f.terminal_fraud_streak_days == pytest.approx(15.0)
    assert f.terminal_streak_bound_days == pytest.approx(20.0)
    assert f.terminal_streak_count == 2.0
    assert f.terminal_streak_min_amount == 12.0
    assert f.terminal_days_since_known_fraud == pytest.approx(9.0)
    assert f.terminal_days_since_known_legit == pytest.approx(20.0)
    assert f.terminal_streak_calendar_days == 15.0
    assert f.terminal_unseen_days == 0.0


def test_terminal_no_streak_when_newest_known_label_is_legit() -> None:
    hist = history(terminal=[item(15.0, fraud=True, customer="b"), item(9.0, fraud=False, customer="d")])
    f = compute_features(tx(), hist)
    assert f.terminal_fraud_streak_days == -1.0
    assert f.terminal_streak_count == 0.0
    assert f.terminal_days_since_known_fraud == pytest.approx(15.0)
    assert f.terminal_unseen_days == 9.0
    assert f.terminal_days_since_known_legit == pytest.approx(9.0)


@pytest.mark.parametrize(
    "labels",
    [
        # (days ago, label), oldest first: a fraud before the legitimate label belongs to no streak
        [(25.0, True), (20.0, False), (15.0, None), (12.0, True), (9.0, True)],
        # unknown labels between the legitimate one and the streak's first fraud
        [(20.0, False), (17.0, None), (15.0, None), (12.0, True), (9.0, True)],
    ],
)
def test_terminal_streak_begins_at_first_fraud_after_newest_legit(labels: list[tuple[float, bool | None]]) -> None:
    hist = history(terminal=[item(d, fraud=fraud, customer=f"c{d}") for d, fraud in labels])
    f = compute_features(tx(), hist)
    assert (f.terminal_fraud_streak_days, f.terminal_streak_count) == (12.0, 2.0)
    assert f.terminal_streak_bound_days == 20.0


def test_customer_amount_ratio_uses_prior_median() -> None:
    hist = history(customer=[item(d, a) for d, a in [(1, 10.0), (2, 20.0), (3, 30.0), (4, 40.0), (40, 1.0)]])
    f = compute_features(tx(125.0), hist)
    assert f.customer_amount_to_median_30d == pytest.approx(125.0 / 25.0)
    assert f.customer_max_ratio_prior_14d == pytest.approx(40.0 / 25.0)
    assert f.customer_nb_high_ratio_prior_14d == 0.0


def test_customer_high_ratio_count_past_inflated_amounts() -> None:
    base = [item(d, 20.0) for d in (1, 2, 3, 4, 5, 6, 7)]
    inflated = [item(2.5, 100.0), item(20.0, 100.0), item(14.0, 200.0)]  # 20 and exactly 14 days: outside
    f = compute_features(tx(20.0), history(customer=base + inflated))
    assert f.customer_nb_high_ratio_prior_14d == 1.0
    assert f.customer_max_ratio_prior_14d == pytest.approx(5.0)


def test_customer_known_fraud_respects_delay() -> None:
    hist = history(customer=[item(8.0, fraud=True, terminal="x"), item(2.0, fraud=True, terminal="y")])
    f = compute_features(tx(), hist)
    assert f.customer_known_frauds == 1.0
    assert f.customer_days_since_known_fraud == pytest.approx(8.0)


def test_velocity_and_novelty_features() -> None:
    at_t1 = item(5.0, terminal="t1")
    hist = history(customer=[item(0.5 / 24, terminal="t9"), item(2 / 24, terminal="t9"), at_t1], terminal=[at_t1])
    f = compute_features(tx(terminal="t1"), hist)
    assert f.customer_nb_tx_1h == 2.0
    assert f.customer_hours_since_prev == pytest.approx(0.5)
    assert f.customer_new_terminal_30d == 0.0
    # A first visit: the t2 terminal has never seen this card.
    g = compute_features(tx(terminal="t2"), history(hist.customer, [item(3.0, customer="other", terminal="t2")]))
    assert g.customer_new_terminal_30d == 1.0


@pytest.mark.parametrize(
    ("t", "weekend", "night"),
    [
        (1_533_686_400.0, 0.0, 1.0),  # Wed 2018-08-08 00:00:00
        (1_533_686_400.0 + 7 * 3600 - 1, 0.0, 1.0),  # Wed 06:59:59
        (1_533_686_400.0 + 7 * 3600, 0.0, 0.0),  # Wed 07:00:00
        (1_533_945_600.0 + 12 * 3600, 1.0, 0.0),  # Sat 2018-08-11 12:00
        (1_534_118_400.0 - 1, 1.0, 0.0),  # Sun 23:59:59
        (1_534_118_400.0, 0.0, 1.0),  # Mon 2018-08-13 00:00
    ],
)
def test_calendar_features_weekend_and_night_boundaries(t: float, weekend: float, night: float) -> None:
    f = compute_features(tx(t=t), history())
    assert (f.is_weekend, f.is_night) == (weekend, night)


def test_features_unsorted_history_same_as_sorted() -> None:
    items = [item(d, 10.0 + d, terminal="t1", customer="c1", fraud=d > 8) for d in (3, 9, 1, 12, 0.2, 30)]
    a = compute_features(tx(), history(customer=items, terminal=items))
    b = compute_features(tx(), history(customer=sorted(items, key=lambda i: i.timestamp), terminal=items[::-1]))
    assert a == b


def test_customer_known_frauds_count_every_known_fraud_not_only_the_newest_item() -> None:
    # GIVEN a known fraud 12 days ago followed by a known legitimate payment 9 days ago
    hist = history(customer=[item(12.0, fraud=True, terminal="x"), item(9.0, fraud=False, terminal="y")])
    f = compute_features(tx(), hist)
    # THEN the older fraud still counts
    assert f.customer_known_frauds == 1.0
    assert f.customer_days_since_known_fraud == pytest.approx(12.0)


def test_label_known_at_exactly_its_label_time() -> None:
    # GIVEN frauds whose labels arrived exactly at t (and, on the terminal, an unlabelled payment)
    customer = [item(10.0, fraud=True, terminal="x", label_time=T0)]
    terminal = [item(10.0, fraud=True, customer="a", label_time=T0), item(9.0, fraud=None, customer="b")]
    f = compute_features(tx(), history(customer, terminal))
    # THEN both labels are known at t
    assert f.customer_known_frauds == 1.0
    assert f.customer_days_since_known_fraud == pytest.approx(10.0)
    assert f.terminal_days_since_known_fraud == pytest.approx(10.0)
    assert f.terminal_fraud_streak_days == pytest.approx(10.0)


def test_customer_amount_ratio_median_of_odd_count_is_the_middle_amount() -> None:
    hist = history(customer=[item(d, a) for d, a in [(1, 10.0), (2, 60.0), (3, 20.0)]])
    f = compute_features(tx(100.0), hist)
    assert f.customer_amount_to_median_30d == pytest.approx(5.0)


def test_history_reaches_back_thirty_days_for_customer_and_terminal_windows() -> None:
    # GIVEN a customer payment 25 days ago and a terminal payment 30 days before t (23 days before
    # the terminal window's end)
    hist = history(customer=[item(25.0, 40.0)], terminal=[item(30.0, customer="a", fraud=True)])
    f = compute_features(tx(), hist)
    # THEN both count in the 30-day windows
    assert (f.customer_nb_tx_30d, f.customer_avg_amount_30d) == (2.0, 45.0)
    assert (f.terminal_nb_tx_30d, f.terminal_risk_30d) == (1.0, 1.0)


def test_customer_ratio_features_with_one_prior_payment_none_in_last_14_days() -> None:
    f = compute_features(tx(100.0), history(customer=[item(20.0, 25.0)]))
    assert f.customer_amount_to_median_30d == 4.0
    assert (f.customer_max_ratio_prior_14d, f.customer_nb_high_ratio_prior_14d) == (-1.0, 0.0)


def test_terminal_30_day_window_with_short_label_delay() -> None:
    # GIVEN the benchmark's shorter label delay (3 days): the 30-day terminal window is (t - 33d, t - 3d]
    hist = history(terminal=[item(d, fraud=d == 20.0, customer=f"c{d}") for d in (35.0, 34.0, 20.0, 10.0)])
    f = compute_features(tx(), hist, label_delay_days=3)
    # THEN the items 35 and 34 days old are outside it
    assert (f.terminal_nb_tx_30d, f.terminal_risk_30d) == (2.0, 0.5)


def test_calendar_features_before_1970() -> None:
    # GIVEN t on Friday 1969-12-26 01:00 UTC, a known fraud on Sunday 12-14 and a legitimate payment on Saturday 12-13
    t = -6 * DAY + 3600
    hist = history(terminal=[item(12.0, fraud=True, customer="a", t=t), item(12.5, customer="b", t=t)])
    f = compute_features(tx(t=t), hist)
    # THEN weekday and calendar days count whole UTC days, as after 1970
    assert (f.is_weekend, f.is_night) == (0.0, 1.0)
    assert f.terminal_streak_calendar_days == 12.0
    assert f.terminal_calendar_days_since_known_legit == 13.0


def test_features_ignore_other_entities_when_customer_and_terminal_ids_coincide() -> None:
    # GIVEN numbered ids, so customer "7" and terminal "7" both exist, and each history holds one
    # item of another entity that shares the scored transaction's other id
    own_c = [item(2.0, 30.0, customer="7", terminal="7")]
    own_t = [item(9.0, customer="7", terminal="7", fraud=False)]
    foreign_c = item(3.0, 500.0, customer="8", terminal="7", tx_id="foreign-c")
    foreign_t = item(10.0, customer="7", terminal="8", fraud=True, tx_id="foreign-t")
    scored = tx(60.0, customer="7", terminal="7")
    # WHEN features are computed with and without those items
    f = compute_features(scored, history([*own_c, foreign_c], [*own_t, foreign_t]))
    # THEN the foreign items change nothing
    assert f == compute_features(scored, history(own_c, own_t))
    assert (f.customer_nb_tx_30d, f.customer_avg_amount_30d) == (2.0, 45.0)
    assert (f.terminal_nb_tx_30d, f.terminal_days_since_known_fraud) == (1.0, 37.0)


def test_features_ignore_a_copy_of_the_scored_transaction_in_clean_histories() -> None:
    # GIVEN histories of the right customer and terminal only, each holding a copy of the scored
    # transaction (a retry stored before scoring finished)
    own_c = [item(0.5, 30.0)]
    own_t = [item(9.0, customer="a", fraud=True)]
    copy = item(0.0, 60.0, tx_id="now", fraud=True)
    f = compute_features(tx(60.0), history([*own_c, copy], [*own_t, copy]))
    # THEN the copy counts neither as a past payment nor as terminal history
    assert f == compute_features(tx(60.0), history(own_c, own_t))
    assert (f.customer_nb_tx_1d, f.customer_avg_amount_1d) == (2.0, 45.0)
    assert f.terminal_nb_tx_recent_7d == 0.0
