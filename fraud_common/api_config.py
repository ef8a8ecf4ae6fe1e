"""The API configuration secret: scoring thresholds, signing key and card-hash keys.

Its JSON shape is seeded by ``components/data_plane.py`` and rotated by the rotator Lambda::

    {"thresholds": {"review": 0.5, "decline": 0.85},
     "signingKey": "<64 chars>",
     "panHashKeys": {"1": "<64 chars>"},
     "panHashKeyVersion": "1"}

``panHashKeys`` is versioned and not rotated with the signing key: a new card-hash key would
split every card's history in two, so re-keying is a planned operation (add version "2", switch
``panHashKeyVersion``, keep "1" while stored hashes still use it). Standard library only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

MIN_KEY_CHARS = 32
"""Shortest accepted signing / card-hash key (characters; the seeded keys have 64)."""


@dataclass(frozen=True)
class ApiConfiguration:
    """Validated configuration. Keys are kept out of ``repr`` so they never reach a log."""

    review_threshold: float
    decline_threshold: float
    signing_key: str = field(repr=False)
    pan_hash_keys: Mapping[str, str] = field(repr=False)
    pan_hash_key_version: str

    def pan_key(self) -> tuple[bytes, str]:
        """The current card-hash key (bytes, for HMAC) and its version."""
        return self.pan_hash_keys[self.pan_hash_key_version].encode("utf-8"), self.pan_hash_key_version

    def pan_key_for(self, version: str) -> bytes | None:
        """The card-hash key of ``version`` (to verify a stored hash), or None if unknown."""
        key = self.pan_hash_keys.get(version)
        return key.encode("utf-8") if key is not None else None


def parse_api_configuration(secret_string: str) -> ApiConfiguration:
    """Parse and validate the secret's JSON.

    Rules: ``thresholds.review`` and ``thresholds.decline`` are numbers with
    0 < review < decline <= 1; ``signingKey`` is a string of at least 32 characters;
    ``panHashKeys`` maps version strings to keys of at least 32 characters; ``panHashKeyVersion``
    names one of them. Other top-level keys are allowed and ignored (rotation keeps them).

    Raises
    ------
    ValueError
        Naming every bad key and what is allowed. Never contains a key's value.
    """
    try:
        data = json.loads(secret_string)
    except (TypeError, ValueError):
        raise ValueError("API configuration secret is not valid JSON; expected an object") from None
    if not isinstance(data, dict):
        raise ValueError("API configuration secret must be a JSON object")
    problems: list[str] = []
    review, decline = _thresholds(data.get("thresholds"), problems)
    signing_key = data.get("signingKey")
    if not isinstance(signing_key, str) or len(signing_key) < MIN_KEY_CHARS:
        problems.append(f"signingKey must be a string of at least {MIN_KEY_CHARS} characters")
    keys = data.get("panHashKeys")
    version = data.get("panHashKeyVersion")
    if not isinstance(keys, dict) or not keys:
        problems.append("panHashKeys must be a non-empty object of version -> key")
        keys = {}
    for name, key in keys.items():
        if not isinstance(key, str) or len(key) < MIN_KEY_CHARS:
            problems.append(f"panHashKeys[{name!r}] must be a string of at least {MIN_KEY_CHARS} characters")
    if not isinstance(version, str) or not version:
        problems.append("panHashKeyVersion must be a non-empty string naming a key in panHashKeys")
    elif version not in keys:
        problems.append(f"panHashKeyVersion {version!r} is not in panHashKeys (versions: {sorted(keys)})")
    if problems:
        raise ValueError("invalid API configuration: " + "; ".join(problems))
    return ApiConfiguration(
        review_threshold=review,
        decline_threshold=decline,
        signing_key=str(signing_key),
        pan_hash_keys=MappingProxyType(dict(keys)),
        pan_hash_key_version=str(version),
    )


def _thresholds(raw: Any, problems: list[str]) -> tuple[float, float]:
    if not isinstance(raw, dict):
        problems.append('thresholds must be an object {"review": r, "decline": d} with 0 < r < d <= 1')
        return math.nan, math.nan
    values: dict[str, float] = {}
    for name in ("review", "decline"):
        value = raw.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            problems.append(f"thresholds.{name} must be a number in (0, 1]")
            continue
        values[name] = float(value)
    review, decline = values.get("review", math.nan), values.get("decline", math.nan)
    if len(values) == 2 and not 0 < review < decline <= 1:
        problems.append(f"thresholds must satisfy 0 < review < decline <= 1 (got review={review}, decline={decline})")
    return review, decline


DEFAULT_THRESHOLDS: Mapping[str, float] = MappingProxyType({"review": 0.5, "decline": 0.85})
"""Seed thresholds; operators tune them in the secret itself (rotation keeps them)."""


def initial_configuration(signing_key: str, pan_hash_key: str) -> str:
    """The secret's first value, as the Pulumi data plane and local mode both seed it."""
    return json.dumps(
        {
            "thresholds": dict(DEFAULT_THRESHOLDS),
            "signingKey": signing_key,
            "panHashKeys": {"1": pan_hash_key},
            "panHashKeyVersion": "1",
        }
    )
