"""fraud-api settings: environment variables prefixed ``FRAUD_API_``, validated once at startup.

Two shapes:

* ``ENVIRONMENT=aws`` (the default, what the ECS task runs): the database is reached at
  ``DB_HOST`` with the credentials of the RDS-managed secret ``DB_SECRET_ARN`` over TLS
  (``DB_SSLMODE`` require/verify-ca/verify-full), and the thresholds and PAN hash keys come from
  ``API_CONFIG_SECRET_ARN``. No credential may sit in the environment (PCI DSS 8.6.2).
* ``ENVIRONMENT=local`` (tests, benchmark, ``make local``): ``DATABASE_URL`` and
  ``API_CONFIG_JSON`` are allowed, and so is a TLS-less ``DB_SSLMODE``.

Every rule failure names the environment variable and what is allowed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "FRAUD_API_"
SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
_TLS_MODES = ("require", "verify-ca", "verify-full")
# Values people leave in templates; refusing them turns a silent misconfiguration into a clear error.
_PLACEHOLDERS = frozenset({"changethis", "changeme", "change-me", "placeholder", "todo", "xxx", "secret", "password"})
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$")
SERVICE_DB_USER = "fraud_api"
"""The request pool's database user with DB_IAM_AUTH (migration 002 creates it, least privilege;
the Pulumi task role grants ``rds-db:connect`` to exactly this name)."""
RDS_CA_BUNDLE = "/etc/ssl/certs/rds-global-bundle.pem"
"""Where the image installs the Amazon RDS CA bundle (see fraud_api/Dockerfile)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="ignore", frozen=True)

    ENVIRONMENT: Literal["aws", "local"] = "aws"

    # -- database: a URL (local) or host + RDS-managed secret (AWS) -----------------------------
    DATABASE_URL: SecretStr | None = None
    DB_HOST: str | None = None
    DB_PORT: int = Field(default=5432, ge=1, le=65535)
    DB_NAME: str = "fraud"
    DB_USER: str | None = None
    """Overrides the secret's ``username`` (normally left unset)."""
    DB_SECRET_ARN: str | None = None
    DB_IAM_AUTH: bool = False
    """Log the request pool in as SERVICE_DB_USER with RDS IAM tokens from the task role (no
    password anywhere); migrations keep using DB_SECRET_ARN, the RDS-managed master secret."""
    DB_SSLMODE: SslMode = "verify-full"
    DB_SSLROOTCERT: str = RDS_CA_BUNDLE
    DB_APPLICATION_NAME: str = "fraud-api"

    # -- pool and timeouts: they bound how long a request can wait on the database ---------------
    DB_POOL_MIN_SIZE: int = Field(default=2, ge=0, le=100)
    DB_POOL_MAX_SIZE: int = Field(default=10, ge=1, le=200)
    DB_POOL_MAX_WAITING: int = Field(default=100, ge=0, le=10_000)
    """Requests allowed to wait, per worker, for one of the DB_POOL_MAX_SIZE slots of admission
    control (core/overload.py); 0: no queue. A cap for memory: ADMISSION_QUEUE_TIMEOUT_MS is what
    normally bounds the queue (at ~100 requests/s per connection, 100 waiters are 100 ms of work)."""
    DB_POOL_TIMEOUT_MS: int = Field(default=50, ge=5, le=30_000)
    """How long a request waits for a pooled connection before answering 503 (keeps a database
    outage answer well inside 100 ms, with room for the HTTP stack)."""
    DB_CONNECT_TIMEOUT_S: int = Field(default=3, ge=2, le=60)
    """libpq connect_timeout for the pool's background connection attempts (libpq minimum is 2)."""
    DB_REQUEST_TIMEOUT_MS: int = Field(default=80, ge=10, le=60_000)
    """Hard bound on a request's whole database part (checkout + statements), enforced on the client
    side: a database that hangs (blackholed network, frozen server) is answered 503 within it."""
    DB_STATEMENT_TIMEOUT_MS: int = Field(default=100, ge=10, le=60_000)
    """Server-side statement_timeout: stops the work of a statement the client gave up on."""
    DB_SYNCHRONOUS_COMMIT: Literal["on", "off"] = "on"
    """"on": a decision is durable before it is returned. "off" saves the commit flush (on this
    benchmark machine most of the request's latency) at the price of losing the decisions of the
    last ~0.6 s if PostgreSQL crashes (retries then re-score them); it never corrupts data."""
    DB_RECONNECT_TIMEOUT_S: float = Field(default=2.0, ge=1.0, le=3600.0)
    """After this long failing, a pool slot gives up its backoff chain (attempts 1 s, then 2 s
    apart); once every slot has, requests get 503 at once and the pool is probed every 0.5 s
    (core/db.py), so the first answer after the database returns comes within about a second."""
    DB_MAX_LIFETIME_S: float = Field(default=1800.0, ge=60.0)
    DB_MIGRATE_ON_START: bool = True
    DB_MIGRATION_TIMEOUT_S: int = Field(default=120, ge=5, le=3600)

    ADMISSION_QUEUE_TIMEOUT_MS: int = Field(default=100, ge=1, le=60_000)
    """Longest wait for an admission slot: a request whose expected wait is longer is refused at
    once (503 ``overloaded``), one that waited this long without a slot is refused then. With
    DB_REQUEST_TIMEOUT_MS it bounds an admitted request's time in the service."""
    ADMISSION_REFUSAL_DELAY_MS: int = Field(default=500, ge=0, le=10_000)
    """A request refused at arrival is answered this much later (a timer; nothing is held), so
    clients that resend a refused request at once cannot keep the worker busy refusing; 0: at once.
    Keep it well under the callers' timeout (API Gateway's integration: 3 s)."""

    # -- API configuration (thresholds, PAN hash keys) -----------------------------------------
    API_CONFIG_SECRET_ARN: str | None = None
    API_CONFIG_JSON: SecretStr | None = None
    API_CONFIG_REFRESH_S: float = Field(default=300.0, ge=5.0, le=86_400.0)
    """Re-read the API configuration secret this often (its rotation adds PAN hash key versions)."""

    # -- AWS SDK ---------------------------------------------------------------------------------
    AWS_REGION: str | None = None
    """Defaults to the SDK's own resolution (ECS sets AWS_REGION)."""
    AWS_ENDPOINT_URL: str | None = None
    """Local mode only: point Secrets Manager at moto."""

    # -- scoring and logs -----------------------------------------------------------------------
    MODEL_PATH: Path | None = None
    """A model artifact to serve instead of the one shipped in fraud_scoring (and whenever the
    registry's pointer is unset)."""
    MODEL_BUCKET: str | None = None
    """The models bucket (fraud_scoring.registry); with MODEL_POINTER_PARAMETER, serve the promoted
    version and follow promotions and rollbacks without a restart."""
    MODEL_POINTER_PARAMETER: str | None = None
    """The SSM parameter holding the promoted version (``/<project>/<env>/model/promoted``)."""
    MODEL_SHADOW_PARAMETER: str | None = None
    """The SSM parameter naming the shadow version (``/<project>/<env>/model/shadow``), scored and
    stored beside each decision, never used for it; needs MODEL_BUCKET. With MODEL_REGISTRY_DIR the
    directory's shadow pointer is followed instead."""
    MODEL_REGISTRY_DIR: Path | None = None
    """Local mode and tests: a local registry directory instead of MODEL_BUCKET + MODEL_POINTER_PARAMETER."""
    MODEL_REFRESH_S: float = Field(default=60.0, ge=1.0, le=3600.0)
    """Read the promoted-version pointer at most this often: a promotion serves within this bound."""
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # -- traces (core/tracing.py) ------------------------------------------------------------------
    TRACE_EXPORTER: Literal["otlp", "file", "none"] = "none"
    """Where sampled spans go: "otlp" to the collector at TRACE_OTLP_ENDPOINT (the ECS task's
    sidecar; the task definition sets it), "file" as JSON lines to TRACE_FILE (local mode), "none":
    tracing off, no span is made (tests, the benchmark's floor)."""
    TRACE_SAMPLE_RATE: float = 0.05
    """Fraction of requests traced when the caller made no decision (no ``X-Amzn-Trace-Id`` with
    ``Sampled``); a caller's decision is followed. 0.05 is the stack's X-Ray sampling rule
    (components/observability.py SAMPLING_RATE) and keeps tracing's CPU cost under 5 %."""
    TRACE_OTLP_ENDPOINT: str = "http://127.0.0.1:4318"
    """OTLP/HTTP base URL of the collector (spans are posted to <endpoint>/v1/traces)."""
    TRACE_FILE: Path | None = None
    """The JSON-lines file of TRACE_EXPORTER=file (appended to)."""

    @model_validator(mode="after")
    def _check(self) -> Settings:
        problems = [*self._placeholder_problems(), *self._source_problems(), *self._aws_problems()]
        if self.DB_POOL_MIN_SIZE > self.DB_POOL_MAX_SIZE:
            problems.append(
                f"{ENV_PREFIX}DB_POOL_MIN_SIZE ({self.DB_POOL_MIN_SIZE}) must not exceed "
                f"{ENV_PREFIX}DB_POOL_MAX_SIZE ({self.DB_POOL_MAX_SIZE})"
            )
        if self.DB_POOL_TIMEOUT_MS >= self.DB_REQUEST_TIMEOUT_MS:
            problems.append(
                f"{ENV_PREFIX}DB_POOL_TIMEOUT_MS ({self.DB_POOL_TIMEOUT_MS}) must be below "
                f"{ENV_PREFIX}DB_REQUEST_TIMEOUT_MS ({self.DB_REQUEST_TIMEOUT_MS})"
            )
        if not 0.0 <= self.TRACE_SAMPLE_RATE <= 1.0:
            problems.append(
                f"{ENV_PREFIX}TRACE_SAMPLE_RATE ({self.TRACE_SAMPLE_RATE}) must be between 0 and 1 "
                "(the fraction of requests traced: 0 none, 1 all)"
            )
        if self.TRACE_EXPORTER == "file" and self.TRACE_FILE is None:
            problems.append(f"{ENV_PREFIX}TRACE_EXPORTER=file needs {ENV_PREFIX}TRACE_FILE (where to write the spans)")
        if self.MODEL_PATH is not None and not self.MODEL_PATH.is_file():
            problems.append(f"{ENV_PREFIX}MODEL_PATH: no such file {self.MODEL_PATH}")
        problems.extend(self._registry_problems())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _placeholder_problems(self) -> list[str]:
        values = {
            "DB_HOST": self.DB_HOST,
            "DB_NAME": self.DB_NAME,
            "DB_USER": self.DB_USER,
            "DB_SECRET_ARN": self.DB_SECRET_ARN,
            "API_CONFIG_SECRET_ARN": self.API_CONFIG_SECRET_ARN,
        }
        if self.DATABASE_URL is not None:
            values["DATABASE_URL (password)"] = urlsplit(self.DATABASE_URL.get_secret_value()).password
        problems = []
        for name, value in values.items():
            if value is not None and value.strip().lower() in _PLACEHOLDERS:
                problems.append(f"{ENV_PREFIX}{name} is a placeholder value; set the real one")
        for name in ("DB_SECRET_ARN", "API_CONFIG_SECRET_ARN"):
            arn = getattr(self, name)
            if arn is not None and not _SECRET_ARN.match(arn):
                problems.append(
                    f"{ENV_PREFIX}{name} must be a Secrets Manager ARN (arn:<partition>:secretsmanager:...)"
                )
        return problems

    def _registry_problems(self) -> list[str]:
        if (self.MODEL_BUCKET is None) != (self.MODEL_POINTER_PARAMETER is None):
            return [f"set both {ENV_PREFIX}MODEL_BUCKET and {ENV_PREFIX}MODEL_POINTER_PARAMETER, or neither"]
        if self.MODEL_SHADOW_PARAMETER is not None and self.MODEL_BUCKET is None:
            return [f"{ENV_PREFIX}MODEL_SHADOW_PARAMETER needs {ENV_PREFIX}MODEL_BUCKET and MODEL_POINTER_PARAMETER"]
        if self.MODEL_BUCKET is not None and self.MODEL_REGISTRY_DIR is not None:
            return [f"set either {ENV_PREFIX}MODEL_REGISTRY_DIR or {ENV_PREFIX}MODEL_BUCKET, not both"]
        return []

    def _source_problems(self) -> list[str]:
        problems = []
        if self.DATABASE_URL is not None and (self.DB_HOST or self.DB_SECRET_ARN):
            problems.append(
                f"set either {ENV_PREFIX}DATABASE_URL or {ENV_PREFIX}DB_HOST + {ENV_PREFIX}DB_SECRET_ARN, not both"
            )
        if self.DATABASE_URL is None and not (self.DB_HOST and (self.DB_SECRET_ARN or self.DB_USER)):
            problems.append(
                f"database not configured: set {ENV_PREFIX}DB_HOST and {ENV_PREFIX}DB_SECRET_ARN "
                f"(or, locally, {ENV_PREFIX}DATABASE_URL)"
            )
        if (self.API_CONFIG_SECRET_ARN is None) == (self.API_CONFIG_JSON is None):
            problems.append(f"set exactly one of {ENV_PREFIX}API_CONFIG_SECRET_ARN and {ENV_PREFIX}API_CONFIG_JSON")
        return problems

    def _aws_problems(self) -> list[str]:
        if self.ENVIRONMENT != "aws":
            return []
        problems = []
        if self.DATABASE_URL is not None:
            problems.append(
                f"{ENV_PREFIX}DATABASE_URL is for ENVIRONMENT=local; in AWS use {ENV_PREFIX}DB_HOST "
                f"and the RDS-managed secret {ENV_PREFIX}DB_SECRET_ARN"
            )
        elif not self.DB_SECRET_ARN:
            problems.append(f"{ENV_PREFIX}DB_SECRET_ARN is required in AWS (no database password in the environment)")
        if self.API_CONFIG_JSON is not None:
            problems.append(
                f"{ENV_PREFIX}API_CONFIG_JSON is for ENVIRONMENT=local; in AWS use {ENV_PREFIX}API_CONFIG_SECRET_ARN"
            )
        if self.DB_SSLMODE not in _TLS_MODES:
            problems.append(
                f"{ENV_PREFIX}DB_SSLMODE={self.DB_SSLMODE!r} is not allowed in AWS; use one of {list(_TLS_MODES)}"
            )
        if self.DB_SSLMODE.startswith("verify") and not Path(self.DB_SSLROOTCERT).is_file():
            problems.append(
                f"{ENV_PREFIX}DB_SSLROOTCERT: CA bundle {self.DB_SSLROOTCERT} not found (needed by "
                f"DB_SSLMODE={self.DB_SSLMODE})"
            )
        if self.AWS_ENDPOINT_URL is not None:
            problems.append(f"{ENV_PREFIX}AWS_ENDPOINT_URL is for ENVIRONMENT=local (moto)")
        return problems

    @property
    def pool_timeout_s(self) -> float:
        return self.DB_POOL_TIMEOUT_MS / 1000.0

    @property
    def request_timeout_s(self) -> float:
        return self.DB_REQUEST_TIMEOUT_MS / 1000.0


def load_settings() -> Settings:
    """Read the settings from the environment (raises pydantic.ValidationError naming each problem)."""
    return Settings()
