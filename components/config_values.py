"""What stack configuration values may be, and the reader that checks them.

`config.py` declares the stack's settings; this module holds the allowed values AWS imposes and
the reader that turns raw strings into typed values, recording every problem (key, value, what
is allowed) instead of stopping at the first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

import pulumi

# CloudWatch Logs accepts only these retention periods (days). "Never expire" is deliberately absent.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

# Fargate task sizes: cpu units -> allowed memory (MiB).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}

ISO_3166_ALPHA2 = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY
    BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO
    FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM
    JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE
    RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT
    TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW""".split()
)


class ConfigError(pulumi.RunError):
    """Stack configuration is missing or malformed. RunError: Pulumi prints the message without a traceback."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid stack configuration ({len(self.problems)} problem(s)):\n{lines}")


T = TypeVar("T")


class Reader:
    """Reads raw string values by key, records every problem instead of stopping at the first."""

    def __init__(self, get: Callable[[str], str | None], namespace: str) -> None:
        self._get = get
        self._namespace = namespace
        self.problems: list[str] = []
        self._failed: set[str] = set()

    def _fail(self, key: str, raw: object, allowed: str) -> None:
        # One problem per key: the first one names what is allowed; later checks would only echo it.
        if key not in self._failed:
            self._failed.add(key)
            self.problems.append(f"{self._namespace}:{key} = {raw!r} is invalid: allowed {allowed}")

    def _raw(self, key: str) -> str | None:
        value = self._get(key)
        return None if value is None or value == "" else value

    def _required(self, key: str, allowed: str) -> str | None:
        # Pulumi.yaml declares every key's default and the CLI applies it before the program runs,
        # so a key missing here was removed from Pulumi.yaml or never declared.
        raw = self._raw(key)
        if raw is None and key not in self._failed:
            self._failed.add(key)  # checks that build on the value would only echo this problem
            self.problems.append(f"{self._namespace}:{key} is required: {allowed}")
        return raw

    def string(self, key: str, *, pattern: re.Pattern[str] | None = None, allowed: str = "a string") -> str:
        raw = self._required(key, allowed)
        if raw is None:
            return ""
        if pattern is not None and not pattern.match(raw):
            self._fail(key, raw, allowed)
        return raw

    def optional_string(self, key: str, *, pattern: re.Pattern[str], allowed: str) -> str | None:
        """An empty string (Pulumi.yaml's default for an optional key) means unset."""
        raw = self._raw(key)
        if raw is not None and not pattern.match(raw):
            self._fail(key, raw, allowed)
        return raw

    def choice(self, key: str, choices: Sequence[T]) -> T:
        allowed = "one of " + ", ".join(str(c) for c in choices)
        raw = self._required(key, allowed)
        for choice in choices:
            if raw == choice:
                return choice
        if raw is not None:
            self._fail(key, raw, allowed)
        return choices[0]

    def integer(self, key: str, lo: int, hi: int, *, choices: Sequence[int] = ()) -> int:
        allowed = f"one of {', '.join(map(str, choices))}" if choices else f"a whole number from {lo} to {hi}"
        raw = self._required(key, allowed)
        if raw is None:
            return lo
        try:
            value = int(raw)
        except ValueError:
            self._fail(key, raw, allowed)
            return lo
        if not lo <= value <= hi or (choices and value not in choices):
            self._fail(key, raw, allowed)
        return value

    def number(self, key: str) -> float:
        raw = self._required(key, "a number")
        if raw is None:
            return 0.0
        try:
            return float(raw)
        except ValueError:
            self._fail(key, raw, "a number")
            return 0.0

    def boolean(self, key: str) -> bool:
        raw = self._required(key, "true or false")
        if raw is None:
            return False
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        self._fail(key, raw, "true or false")
        return False

    def string_list(self, key: str) -> tuple[str, ...]:
        # Unlike scalars, an empty list is a value: Pulumi hands it over as the text "[]".
        raw = self._get(key)
        if raw is None:
            self.problems.append(f"{self._namespace}:{key} is required: a list of strings")
            return ()
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self._fail(key, raw, "a list of strings")
            return ()
        return tuple(value)

    def check(self, ok: bool, key: str, raw: object, allowed: str) -> None:
        if not ok:
            self._fail(key, raw, allowed)
