"""Explainable rules beside the model. Standard library only (serving path).

A rule reads the same ``Features`` the model sees and, when it fires, contributes a sentence an
analyst can act on and a minimum decision. Rules escalate to review at most: declining a
payment is left to the model's calibrated score and the configured decline threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fraud_scoring.features import HIGH_RATIO, Features
from fraud_scoring.types import Decision


@dataclass(frozen=True, slots=True)
class Rule:
    """``check`` returns the human-readable reason when the rule fires, else ``None``."""

    rule_id: str
    check: Callable[[Features], str | None]
    floor: Decision = Decision.REVIEW


def _amount_far_above_norm(f: Features) -> str | None:
    # Five times the median is where the simulator's compromised-card inflation sits, and far
    # outside a legitimate customer's spread (amounts ~ N(mean, mean / 2)). Needs a few prior
    # payments so that one odd purchase does not define the customer's norm.
    if f.customer_amount_to_median_30d >= 5.0 and f.customer_nb_tx_30d >= 6:
        return (
            f"amount {f.amount:.2f} is {f.customer_amount_to_median_30d:.1f}x the card's 30-day median "
            f"({int(f.customer_nb_tx_30d) - 1} prior payments)"
        )
    return None


def _repeated_inflated(f: Features) -> str | None:
    if f.customer_nb_high_ratio_prior_14d >= 2 and f.customer_amount_to_median_30d >= HIGH_RATIO:
        return (
            f"card made {int(f.customer_nb_high_ratio_prior_14d)} other payments above {HIGH_RATIO:.0f}x "
            "its median in the last 14 days, and this one is too"
        )
    return None


def _terminal_fraud_streak(f: Features) -> str | None:
    # A confirmed-fraud run that is the terminal's latest known activity, begun recently
    # enough that a compromise starting then could still be active.
    if 0.0 <= f.terminal_fraud_streak_days <= 35.0:
        return (
            f"terminal's latest confirmed transactions are fraud (run began {f.terminal_fraud_streak_days:.0f} "
            "days ago, no confirmed legitimate use since)"
        )
    return None


def _velocity_burst(f: Features) -> str | None:
    if f.customer_nb_tx_1h >= 5:
        return f"{int(f.customer_nb_tx_1h)} payments by this card within one hour"
    return None


# No rule holds a card for review because it had confirmed fraud: a compromised card keeps being used by
# its owner (two payments in three, in the simulator), so such a rule sent mostly legitimate payments to
# the analysts. Replaying the demo's loop (`python -m fraud_local replay --weeks 4 --transactions 6000`,
# seed 7) it flagged 512 payments of which 24 were fraud, while the model's own card features already
# catch the inflated amounts; without it, precision of the flagged rose from 33-37 % to 52-55 % on
# six seeds. The terminal rule stays: it is how a compromised terminal is caught once labels flow.
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("amount_far_above_customer_norm", _amount_far_above_norm),
    Rule("repeated_inflated_amounts", _repeated_inflated),
    Rule("terminal_confirmed_fraud_streak", _terminal_fraud_streak),
    Rule("velocity_burst", _velocity_burst),
)
