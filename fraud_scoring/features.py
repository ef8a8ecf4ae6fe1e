"""The one definition of every model feature. Standard library only (serving path).

Training and the benchmark call ``compute_features`` too, so there is no second implementation
that could drift from what production computes.

Conventions, for a transaction at time ``t`` (epoch seconds, UTC) and ``D`` = one day:

* "(a, b]" means timestamps strictly after ``a`` and up to and including ``b``.
* Customer windows look back from ``t``: (t - n D, t]. The handbook's count and mean features
  include the transaction being scored; the "prior" features exclude it.
* Terminal windows are shifted by the label delay ``L`` (7 days): (t - (n + L) D, t - L D], so
  they only cover transactions whose label can be known.
* A label is *known* at ``t`` when the item's ``fraud`` is not ``None``, the item is at least
  ``L`` days old (timestamp <= t - L D) and its ``label_time`` (when given) is <= t. A missing
  ``label_time`` means "known from timestamp + L", the handbook's convention. Unknown labels
  count as "not fraud" in the terminal risk windows and are skipped by the streak features.
* Only history in (t - (30 + L) D, t] (``HISTORY_DAYS`` = 37 days for the serving delay)
  about the same customer / terminal and with a different transaction id is looked at;
  everything else the caller passes is ignored, so future transactions and fresh labels can
  never leak into a score. Items at exactly ``t`` count as past (simultaneous) payments.
* Both histories must be complete for that span: "first use of this terminal" is read from
  the terminal's history, which holds the customer's payments there too.
* "Days since" features use ``HISTORY_DAYS`` as the value for "nothing in the history".
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import takewhile
from operator import itemgetter
from typing import NamedTuple, cast

from fraud_scoring.types import History, HistoryItem, HistoryRow, Transaction

DAY = 86_400.0
LABEL_DELAY_DAYS = 7
"""Fraud labels are assumed known only for transactions at least this many days old."""
CUSTOMER_WINDOW_DAYS = 30
HISTORY_DAYS = CUSTOMER_WINDOW_DAYS + LABEL_DELAY_DAYS
"""How far back callers must fetch history (customer and terminal) for exact features."""
FEATURE_SCHEMA_VERSION = 1
"""Bump when a feature's definition changes: artifacts trained on another schema refuse to load."""
HIGH_RATIO = 3.0
"""Amount-to-median ratio above which a past customer transaction counts as 'inflated'."""
_MIN_MEDIAN = 0.01  # keeps ratios finite for customers whose median amount is 0.00


class Features(NamedTuple):
    """The model input vector. Field order is the artifact's feature order."""

    # -- the handbook's 15 ---------------------------------------------------------------
    amount: float
    """TX_AMOUNT: the amount being scored."""
    is_weekend: float
    """1 if t falls on a Saturday or Sunday (UTC), else 0."""
    is_night: float
    """1 if the UTC hour is 0-6 (00:00:00-06:59:59), else 0."""
    customer_nb_tx_1d: float
    """Customer's transactions in (t - 1 D, t], current included (always >= 1)."""
    customer_avg_amount_1d: float
    """Mean amount over the same window, current included."""
    customer_nb_tx_7d: float
    """As above over (t - 7 D, t]."""
    customer_avg_amount_7d: float
    customer_nb_tx_30d: float
    """As above over (t - 30 D, t]."""
    customer_avg_amount_30d: float
    terminal_nb_tx_1d: float
    """Terminal's transactions in (t - (1 + L) D, t - L D]."""
    terminal_risk_1d: float
    """Known frauds / transactions in the same window; 0 when the window is empty."""
    terminal_nb_tx_7d: float
    """As above over (t - (7 + L) D, t - L D]."""
    terminal_risk_7d: float
    terminal_nb_tx_30d: float
    """As above over (t - (30 + L) D, t - L D]."""
    terminal_risk_30d: float
    # -- amount against the customer's own habits ----------------------------------------
    customer_amount_to_median_30d: float
    """amount / median of the customer's prior amounts in (t - 30 D, t), current excluded.
    The median resists the customer's own past inflated (fraudulent) amounts. -1 if none."""
    customer_max_ratio_prior_14d: float
    """Largest prior amount in (t - 14 D, t) divided by that median: a recent inflated payment
    on the card. -1 if no prior transaction."""
    customer_nb_high_ratio_prior_14d: float
    """Prior transactions in (t - 14 D, t) above HIGH_RATIO x that median."""
    # -- velocity and novelty ------------------------------------------------------------
    customer_nb_tx_1h: float
    """Customer's transactions in (t - 1 h, t], current included."""
    customer_hours_since_prev: float
    """Hours since the customer's previous transaction (HISTORY_DAYS x 24 if none)."""
    customer_new_terminal_30d: float
    """1 if the customer has no prior transaction at this terminal in (t - 30 D, t] (read from
    the terminal's history, which holds the same transactions)."""
    terminal_nb_tx_recent_7d: float
    """Terminal's transactions in (t - L D, t], current excluded (labels not yet known)."""
    # -- known labels (delay-respecting) -------------------------------------------------
    customer_known_frauds: float
    """Customer's known frauds in (t - HISTORY_DAYS D, t - L D]."""
    customer_days_since_known_fraud: float
    """Days since the customer's latest known fraud (HISTORY_DAYS if none)."""
    terminal_days_since_known_fraud: float
    """Days since the terminal's latest known fraud (HISTORY_DAYS if none)."""
    terminal_days_since_known_legit: float
    """Days since the terminal's latest known legitimate transaction (HISTORY_DAYS if none)."""
    terminal_fraud_streak_days: float
    """If the terminal's latest known label is fraud: days since the first fraud of that
    unbroken run of known frauds (a compromise that began then is likely still going). -1
    otherwise."""
    terminal_streak_bound_days: float
    """With a streak: days since the known legitimate transaction just before it, which
    bounds when the compromise began (HISTORY_DAYS if none). -1 without a streak."""
    terminal_streak_count: float
    """Number of known frauds in that streak (0 without one): a run of several separates a
    compromised terminal from one stolen card that happened to pass by."""
    terminal_streak_calendar_days: float
    """UTC calendar days from the streak's first fraud to t (-1 without a streak). Compromises
    are reported and contained per day, so whole days pin the window better than hours."""
    terminal_calendar_days_since_known_legit: float
    """UTC calendar days from the latest known legitimate transaction to t (HISTORY_DAYS if
    none)."""
    terminal_streak_min_amount: float
    """Smallest amount among the streak's frauds (-1 without a streak). Ordinary amounts point
    to a compromised terminal; a lone very large one to a stolen card that passed by."""
    terminal_unseen_days: float
    """When the newest known label is legitimate (or there is none): UTC calendar days since
    it, the span in which a compromise could have begun that no known label reveals yet; the
    risk of such an unseen compromise grows with it. 0 when the newest known label is fraud."""


FEATURE_NAMES: tuple[str, ...] = Features._fields
HANDBOOK_FEATURES: tuple[str, ...] = FEATURE_NAMES[:15]

# Items are read by position, never by name: they may be plain tuples (``HistoryRow``).
_ID = HistoryItem._fields.index("transaction_id")
_TS = itemgetter(HistoryItem._fields.index("timestamp"))
_CUSTOMER_ID = HistoryItem._fields.index("customer_id")
_TERMINAL_ID = HistoryItem._fields.index("terminal_id")
_FRAUD = itemgetter(HistoryItem._fields.index("fraud"))
_Columns = tuple[
    tuple[float, ...], tuple[float, ...], tuple[str, ...], tuple[bool | None, ...], tuple[float | None, ...]
]
_NO_COLUMNS: _Columns = ((), (), (), (), ())


def _window(items: Sequence[HistoryRow], start: float, t: float, tx_id: str, owner: int, entity: str) -> _Columns:
    """The columns of ``entity``'s items in (start, t] other than the scored transaction, oldest
    first: timestamps, amounts, customer ids, fraud labels, label times.

    ``zip(*items)`` turns the items into columns in one pass in C; every later step works on
    whole columns (sort check, bisect, count, slices), so no Python code runs per item unless
    something must actually be dropped. ``owner`` is the field naming the entity.
    """
    if not items:
        return _NO_COLUMNS
    ids, ts, amounts, customers, terminals, frauds, label_times = zip(*items, strict=True)
    if list(ts) != sorted(ts):
        items = sorted(items, key=_TS)
        ids, ts, amounts, customers, terminals, frauds, label_times = zip(*items, strict=True)
    lo = bisect_right(ts, start)
    hi = bisect_right(ts, t)
    owners = (customers if owner == _CUSTOMER_ID else terminals)[lo:hi]
    # A copy of the scored transaction can only sit at timestamp t: check just those ids.
    if owners.count(entity) == hi - lo and tx_id not in ids[bisect_left(ts, t, lo, hi) : hi]:
        return ts[lo:hi], amounts[lo:hi], customers[lo:hi], frauds[lo:hi], label_times[lo:hi]
    # Sorted, inside the window and all the entity's: the call below takes the path above.
    kept = [it for it in items[lo:hi] if it[owner] == entity and it[_ID] != tx_id]
    return _window(kept, start, t, tx_id, owner, entity)


def _known_labels(frauds: tuple[bool | None, ...], label_times: tuple[float | None, ...], t: float) -> Sequence[int]:
    """Per item (already older than the label delay): 1 known fraud, 0 known legit, -1 unknown.

    Fast path returns the bools themselves (True == 1, False == 0 for count/index).
    """
    if (
        None not in frauds
        and None not in label_times
        and (not label_times or max(cast(tuple[float, ...], label_times)) <= t)
    ):
        return cast(tuple[int, ...], frauds)
    return [
        -1 if f is None or (lt is not None and lt > t) else (1 if f else 0)
        for f, lt in zip(frauds, label_times, strict=True)
    ]


def _known_fraud_times(
    timestamps: tuple[float, ...], frauds: tuple[bool | None, ...], label_times: tuple[float | None, ...], t: float
) -> list[float]:
    """Timestamps of the known frauds among the items (already older than the label delay).

    tuple.index finds the (few) fraud labels at C speed; only their label times are read.
    """
    found: list[float] = []
    i = -1
    while True:
        try:
            i = frauds.index(True, i + 1)
        except ValueError:
            return found
        lt = label_times[i]
        if lt is None or lt <= t:
            found.append(timestamps[i])


def _median(values: tuple[float, ...]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def compute_features(
    transaction: Transaction, history: History, label_delay_days: float = LABEL_DELAY_DAYS
) -> Features:
    """Compute ``Features`` for ``transaction`` from what was known at its timestamp.

    Parameters
    ----------
    transaction:
        The transaction being scored.
    history:
        The customer's and the terminal's past transactions; filtered here (see module doc).
    label_delay_days:
        ``L`` above. Serving uses ``LABEL_DELAY_DAYS``; the benchmark may vary it.
    """
    t = transaction.timestamp
    amount = transaction.amount
    tx_id = transaction.transaction_id
    # HISTORY_DAYS for the serving delay; a longer delay (benchmark option) needs more history.
    start = t - (CUSTOMER_WINDOW_DAYS + max(label_delay_days, LABEL_DELAY_DAYS)) * DAY
    cust_id = transaction.customer_id
    term_id = transaction.terminal_id
    delay = label_delay_days * DAY

    known_cut = t - delay
    today = int(t // DAY)

    # -- customer ------------------------------------------------------------------------
    ts, amts, _, frauds, label_times = _window(history.customer, start, t, tx_id, _CUSTOMER_ID, cust_id)
    n = len(ts)
    i1 = bisect_right(ts, t - DAY)
    i7 = bisect_right(ts, t - 7 * DAY)
    i14 = bisect_right(ts, t - 14 * DAY)
    i30 = bisect_right(ts, t - CUSTOMER_WINDOW_DAYS * DAY)
    nb1, nb7, nb30 = n - i1 + 1, n - i7 + 1, n - i30 + 1
    avg1 = (sum(amts[i1:]) + amount) / nb1
    avg7 = (sum(amts[i7:]) + amount) / nb7
    avg30 = (sum(amts[i30:]) + amount) / nb30

    if nb30 > 1:
        median = max(_median(amts[i30:]), _MIN_MEDIAN)
        ratio = amount / median
        recent = amts[i14:]
        if recent:
            max_ratio_14 = max(recent) / median
            high = HIGH_RATIO * median
            nb_high_14 = float(len([a for a in recent if a > high]))
        else:
            max_ratio_14, nb_high_14 = -1.0, 0.0
    else:
        ratio, max_ratio_14, nb_high_14 = -1.0, -1.0, 0.0

    nb_1h = n - bisect_right(ts, t - 3600.0) + 1
    hours_prev = (t - ts[-1]) / 3600.0 if n else HISTORY_DAYS * 24.0

    known = bisect_right(ts, known_cut)
    known_frauds = _known_fraud_times(ts[:known], frauds[:known], label_times[:known], t)
    cust_frauds = len(known_frauds)
    cust_days_fraud = (t - known_frauds[-1]) / DAY if known_frauds else float(HISTORY_DAYS)

    # -- terminal ------------------------------------------------------------------------
    tts, tamts, term_customers, tfrauds, tlabel_times = _window(
        history.terminal, start, t, tx_id, _TERMINAL_ID, term_id
    )
    j = bisect_right(tts, known_cut)
    # The customer's own payments at this terminal are also the terminal's: scanning the
    # terminal's ~1 a day is cheaper than the customer's ~2-4 a day.
    recent_customers = term_customers[bisect_right(tts, t - CUSTOMER_WINDOW_DAYS * DAY) :]
    new_terminal = 0.0 if cust_id in recent_customers else 1.0
    labels = _known_labels(tfrauds[:j], tlabel_times[:j], t)
    k1 = bisect_right(tts, known_cut - DAY)
    k7 = bisect_right(tts, known_cut - 7 * DAY)
    k30 = bisect_right(tts, known_cut - CUSTOMER_WINDOW_DAYS * DAY)
    tnb1, tnb7, tnb30 = j - k1, j - k7, j - k30
    risk1 = labels[k1:].count(1) / tnb1 if tnb1 else 0.0
    risk7 = labels[k7:].count(1) / tnb7 if tnb7 else 0.0
    risk30 = labels[k30:].count(1) / tnb30 if tnb30 else 0.0

    # Newest known labels: the run of frauds ending at the newest known label is the
    # "streak"; the newest legitimate label before it bounds when that run began.
    rev = labels[::-1]
    newest_fraud = rev.index(1) if 1 in rev else -1
    newest_legit = rev.index(0) if 0 in rev else -1
    days_fraud = (t - tts[j - 1 - newest_fraud]) / DAY if newest_fraud >= 0 else float(HISTORY_DAYS)
    days_legit = (t - tts[j - 1 - newest_legit]) / DAY if newest_legit >= 0 else float(HISTORY_DAYS)
    if newest_fraud >= 0 and (newest_legit < 0 or newest_fraud < newest_legit):
        # First fraud of the run: the oldest fraud newer than the newest legitimate label
        # (unknown labels inside the run neither extend nor break it).
        stop = newest_legit if newest_legit >= 0 else len(rev)
        first = stop - 1 - rev[stop - 1 :: -1].index(1)
        streak_days = (t - tts[j - 1 - first]) / DAY
        streak_cal = float(today - int(tts[j - 1 - first] // DAY))
        streak_count = float(rev[:stop].count(1))
        streak_min = min(a for a, lab in zip(tamts[j - stop : j], labels[j - stop : j], strict=True) if lab == 1)
        bound_days = days_legit
        unseen = 0.0
    else:
        streak_days = bound_days = streak_cal = streak_min = -1.0
        streak_count = 0.0
        unseen = -1.0
    cal_legit = float(today - int(tts[j - 1 - newest_legit] // DAY)) if newest_legit >= 0 else float(HISTORY_DAYS)
    if unseen < 0:
        unseen = cal_legit

    sec_of_day = t % DAY
    weekday = (today + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    return Features(
        amount,
        1.0 if weekday >= 5 else 0.0,
        1.0 if sec_of_day < 7 * 3600 else 0.0,
        float(nb1),
        avg1,
        float(nb7),
        avg7,
        float(nb30),
        avg30,
        float(tnb1),
        risk1,
        float(tnb7),
        risk7,
        float(tnb30),
        risk30,
        ratio,
        max_ratio_14,
        nb_high_14,
        float(nb_1h),
        hours_prev,
        new_terminal,
        float(len(tts) - j),
        float(cust_frauds),
        cust_days_fraud,
        days_fraud,
        days_legit,
        streak_days,
        bound_days,
        streak_count,
        streak_cal,
        cal_legit,
        streak_min,
        unseen,
    )


class RuleFacts(NamedTuple):
    """What the rule layer may know beyond the model's features: labels the model's delay hides.

    The model sees a label only once its transaction is ``L`` days old, because that is how it was
    trained; a rule is not trained, so it may use every label known at the moment of the decision.
    """

    terminal_fraud_run_days: float = -1.0
    """The terminal's newest known labels (known at ``t``, whatever their age) are frauds: days from the
    first fraud of that run to t. -1 when the newest known label is legitimate, or none is known."""
    terminal_fraud_run_amount_ratio: float = -1.0
    """Smallest amount among that run's frauds divided by the median amount of the terminal's payments in
    the history window. -1 without a run."""


NO_RULE_FACTS = RuleFacts()
"""Nothing known beyond the features (features computed without the history, as in the gate)."""


def compute_rule_facts(
    transaction: Transaction, history: History, label_delay_days: float = LABEL_DELAY_DAYS
) -> RuleFacts:
    """``RuleFacts`` of ``transaction`` from the same history window ``compute_features`` reads.

    A label is known at ``t`` when its ``label_time`` is <= t; without one, from timestamp + ``L``
    (the module's convention). Unknown labels are skipped; the first known legitimate one ends the run.
    """
    if True not in map(_FRAUD, history.terminal):  # most terminals: no fraud label at all, checked in C
        return NO_RULE_FACTS
    t = transaction.timestamp
    start = t - (CUSTOMER_WINDOW_DAYS + max(label_delay_days, LABEL_DELAY_DAYS)) * DAY
    ts, amounts, _, frauds, label_times = _window(
        history.terminal, start, t, transaction.transaction_id, _TERMINAL_ID, transaction.terminal_id
    )
    delay = label_delay_days * DAY
    newest_first = zip(reversed(range(len(ts))), reversed(ts), reversed(frauds), reversed(label_times), strict=True)
    known = (i for i, s, f, lt in newest_first if f is not None and (s + delay if lt is None else lt) <= t)
    run = list(takewhile(frauds.__getitem__, known))  # newest first, up to the first known legitimate label
    if not run:
        return NO_RULE_FACTS
    return RuleFacts((t - ts[run[-1]]) / DAY, min(map(amounts.__getitem__, run)) / max(_median(amounts), _MIN_MEDIAN))
