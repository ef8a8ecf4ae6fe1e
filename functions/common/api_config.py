"""The API configuration secret, cached across warm invocations and refreshed after rotation.

A warm function reuses the parsed secret for ``API_CONFIG_CACHE_SECONDS`` (default 300 s), so
Secrets Manager is read about once per container per five minutes, not per request. Callers
force a refresh when the cached value cannot serve them (e.g. a card-hash key version they need
is missing), which is how a rotation or a re-keying becomes visible before the TTL expires.
An unreadable or invalid secret raises ``ConfigurationUnavailable``: callers fail (HTTP 503, or
the stream record is retried) rather than run with unknown keys or thresholds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from threading import Lock

from fraud_common import env
from fraud_common.api_config import ApiConfiguration, parse_api_configuration
from functions.common.aws import client, error_code


class ConfigurationUnavailable(RuntimeError):
    """The API configuration secret could not be read or is invalid (a server-side problem)."""


class ApiConfigCache:
    """Time-bounded cache of the parsed API configuration secret."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = Lock()
        self._value: ApiConfiguration | None = None
        self._loaded_at = 0.0

    def get(self, *, force_refresh: bool = False) -> ApiConfiguration:
        """The current configuration, read from Secrets Manager when stale or forced."""
        ttl = env.optional_int(env.API_CONFIG_CACHE_SECONDS, env.DEFAULT_API_CONFIG_CACHE_SECONDS)
        with self._lock:
            fresh = self._value is not None and self._clock() - self._loaded_at < ttl
            if fresh and not force_refresh and self._value is not None:
                return self._value
            self._value = self._load()
            self._loaded_at = self._clock()
            return self._value

    def clear(self) -> None:
        with self._lock:
            self._value = None
            self._loaded_at = 0.0

    @staticmethod
    def _load() -> ApiConfiguration:
        secret_id = env.require(env.API_CONFIG_SECRET_ARN)
        try:
            response = client("secretsmanager").get_secret_value(SecretId=secret_id)
        except Exception as exc:
            # The error code only (never the response body) goes into the message.
            raise ConfigurationUnavailable(
                f"cannot read the API configuration secret ({error_code(exc) or type(exc).__name__})"
            ) from exc
        try:
            return parse_api_configuration(response.get("SecretString") or "")
        except ValueError as exc:
            raise ConfigurationUnavailable(str(exc)) from exc


api_config = ApiConfigCache()
"""The process-wide cache used by the handlers."""
