"""Secrets Manager access: database credentials (RDS-managed secret) and the API configuration.

Both are cached in memory. The database credentials are re-read when a connection attempt fails
authentication (the secret was rotated under us); the API configuration is re-read on a timer, and
a failed refresh keeps serving the last good value (logged), so a Secrets Manager hiccup never
takes scoring down.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

logger = logging.getLogger(__name__)

# A rotation that just happened may need a second look, but a wrong password must not turn every
# pool reconnection attempt into a Secrets Manager call.
MIN_CREDENTIAL_REFRESH_S = 1.0

T = TypeVar("T")
SecretReader = Callable[[str], str]
"""Returns the current SecretString of a secret ARN."""


class SecretError(RuntimeError):
    """A secret could not be read or does not have the expected shape (the message names the ARN,
    never the value)."""


def secrets_manager_reader(region: str | None = None, endpoint_url: str | None = None) -> SecretReader:
    """A reader backed by boto3 (imported here: the tests and local mode may never need it)."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "secretsmanager",
        region_name=region,
        endpoint_url=endpoint_url,
        # Short timeouts: this runs on the pool's reconnection path and at startup.
        config=Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"}),
    )

    def read(arn: str) -> str:
        try:
            response: dict[str, Any] = client.get_secret_value(SecretId=arn)
        except Exception as exc:
            raise SecretError(f"cannot read secret {arn}: {type(exc).__name__}") from exc
        value = response.get("SecretString")
        if not isinstance(value, str):
            raise SecretError(f"secret {arn} has no SecretString")
        return value

    return read


@dataclass(frozen=True)
class DbCredentials:
    username: str
    password: str

    def __repr__(self) -> str:
        return f"DbCredentials(username={self.username!r}, password=***)"


class CredentialsSource(Protocol):
    """Where a connection attempt gets its user and password; ``invalidate()`` after a refusal."""

    def get(self) -> DbCredentials: ...

    def invalidate(self) -> None: ...


# RDS IAM tokens are valid for 15 minutes; a new one is signed well before that.
IAM_TOKEN_REUSE_S = 600.0
TokenSigner = Callable[[str, int, str], str]
"""(host, port, user) -> an RDS IAM authentication token."""


def rds_token_signer(region: str | None = None, endpoint_url: str | None = None) -> TokenSigner:
    """Signs tokens with the task role's credentials (a local SigV4 signature: no network call)."""
    import boto3

    client = boto3.client("rds", region_name=region, endpoint_url=endpoint_url)

    def sign(host: str, port: int, user: str) -> str:
        token: str = client.generate_db_auth_token(DBHostname=host, Port=port, DBUsername=user)
        return token

    return sign


class IamTokenCredentials:
    """The service's own database user, authenticated with RDS IAM tokens (``rds-db:connect``).

    No password exists anywhere: each connection presents a short-lived token signed with the task
    role. Tokens are reused for IAM_TOKEN_REUSE_S (signing costs ~1 ms) and re-signed after a
    refused login.
    """

    def __init__(self, host: str, port: int, user: str, signer: TokenSigner) -> None:
        self._host, self._port, self._user, self._signer = host, port, user, signer
        self._lock = threading.Lock()
        self._cached: DbCredentials | None = None
        self._signed_at = 0.0

    def get(self) -> DbCredentials:
        with self._lock:
            if self._cached is None or time.monotonic() - self._signed_at >= IAM_TOKEN_REUSE_S:
                self._cached = DbCredentials(self._user, self._signer(self._host, self._port, self._user))
                self._signed_at = time.monotonic()
            return self._cached

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None


class DbCredentialsProvider:
    """The RDS-managed master secret ``{"username": ..., "password": ...}``, cached.

    ``invalidate()`` is called after an authentication failure; the next ``get()`` re-reads the
    secret (at most once per ``MIN_CREDENTIAL_REFRESH_S``).
    """

    def __init__(self, arn: str, reader: SecretReader, username_override: str | None = None) -> None:
        self._arn = arn
        self._reader = reader
        self._username_override = username_override
        self._lock = threading.Lock()
        self._cached: DbCredentials | None = None
        self._fetched_at = 0.0
        self.reads = 0

    def get(self) -> DbCredentials:
        with self._lock:
            if self._cached is None:
                self._cached = self._read()
            return self._cached

    def invalidate(self) -> None:
        with self._lock:
            if time.monotonic() - self._fetched_at >= MIN_CREDENTIAL_REFRESH_S:
                self._cached = None

    def _read(self) -> DbCredentials:
        raw = self._reader(self._arn)
        self.reads += 1
        self._fetched_at = time.monotonic()
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            raise SecretError(f"secret {self._arn} is not JSON") from None
        if not isinstance(data, dict):
            raise SecretError(f"secret {self._arn} must be a JSON object with username and password")
        username = self._username_override or data.get("username")
        password = data.get("password")
        if not isinstance(username, str) or not username or not isinstance(password, str) or not password:
            raise SecretError(f"secret {self._arn} must hold non-empty 'username' and 'password' strings")
        logger.info("database credentials loaded", extra={"secret_arn": self._arn, "username": username})
        return DbCredentials(username, password)


class RefreshingValue(Generic[T]):
    """A value parsed from a secret (or a fixed string) and re-read every ``refresh_s`` seconds.

    ``get()`` never blocks on Secrets Manager and never raises after the first successful load:
    a stale value triggers a refresh in a background thread while the current value keeps being
    served; a failed refresh is logged, the previous value kept, and retried after ``retry_s``.
    """

    def __init__(
        self,
        load: Callable[[], str],
        parse: Callable[[str], T],
        refresh_s: float,
        name: str,
        retry_s: float = 30.0,
    ) -> None:
        self._load = load
        self._parse = parse
        self._refresh_s = refresh_s
        self._retry_s = retry_s
        self._name = name
        self._lock = threading.Lock()
        self._value = parse(load())  # first load: errors propagate (fail fast at startup)
        self._next_refresh = time.monotonic() + refresh_s

    def get(self) -> T:
        if time.monotonic() >= self._next_refresh and self._lock.acquire(blocking=False):
            threading.Thread(target=self._refresh, name=f"refresh-{self._name}", daemon=True).start()
        return self._value

    def _refresh(self) -> None:
        try:
            self._value = self._parse(self._load())
        except Exception as exc:
            logger.warning(
                "refresh failed, keeping the previous value",
                extra={"config": self._name, "error": type(exc).__name__},
            )
            self._next_refresh = time.monotonic() + self._retry_s
        else:
            self._next_refresh = time.monotonic() + self._refresh_s
            logger.info("configuration refreshed", extra={"config": self._name})
        finally:
            self._lock.release()
