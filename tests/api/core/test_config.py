"""Settings validation: AWS mode refuses what would put secrets in the environment or drop TLS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from fraud_api.app.core.config import Settings
from fraud_api.app.core.connect import connect_kwargs
from tests.support.api_app import API_CONFIG

DB_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-abc-123456"
CONFIG_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:fraud-api-config-dev-AbCdEf"


@pytest.fixture
def ca_bundle(tmp_path: Path) -> str:
    path = tmp_path / "rds-ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    return str(path)


def _aws(ca_bundle: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "DB_HOST": "fraud-dev.cluster-abc.us-east-1.rds.amazonaws.com",
        "DB_SECRET_ARN": DB_ARN,
        "API_CONFIG_SECRET_ARN": CONFIG_ARN,
        "DB_SSLROOTCERT": ca_bundle,
    }
    values.update(overrides)
    return values


def _error(**values: Any) -> str:
    with pytest.raises(ValidationError) as info:
        Settings(**values)
    return str(info.value)


def test_settings_aws_defaults_require_verified_tls(ca_bundle: str) -> None:
    # GIVEN the variables the ECS task sets WHEN they are loaded
    settings = Settings(**_aws(ca_bundle))
    # THEN TLS with certificate and host verification is on, and the timeouts are the short ones
    assert settings.ENVIRONMENT == "aws"
    kwargs = connect_kwargs(settings, settings.DB_STATEMENT_TIMEOUT_MS)
    assert kwargs["sslmode"] == "verify-full" and kwargs["sslrootcert"] == ca_bundle
    assert "statement_timeout=100" in kwargs["options"] and "synchronous_commit=on" in kwargs["options"]
    assert (settings.DB_POOL_TIMEOUT_MS, settings.DB_REQUEST_TIMEOUT_MS) == (50, 80)


def test_settings_read_from_environment_with_prefix(monkeypatch: pytest.MonkeyPatch, ca_bundle: str) -> None:
    for name, value in _aws(ca_bundle, DB_POOL_MAX_SIZE="7").items():
        monkeypatch.setenv(f"FRAUD_API_{name}", str(value))
    assert Settings().DB_POOL_MAX_SIZE == 7


def test_settings_aws_rejects_tls_off(ca_bundle: str) -> None:
    for mode in ("disable", "allow", "prefer"):
        assert "FRAUD_API_DB_SSLMODE" in _error(**_aws(ca_bundle, DB_SSLMODE=mode))


def test_settings_aws_rejects_missing_ca_bundle(ca_bundle: str) -> None:
    assert "FRAUD_API_DB_SSLROOTCERT" in _error(**_aws(ca_bundle, DB_SSLROOTCERT="/nope.pem"))


def test_settings_aws_rejects_credentials_in_environment(ca_bundle: str) -> None:
    url = _error(**_aws(ca_bundle, DB_HOST=None, DB_SECRET_ARN=None, DATABASE_URL="postgresql://u:p@h/db"))
    assert "FRAUD_API_DATABASE_URL is for ENVIRONMENT=local" in url
    inline = _error(**_aws(ca_bundle, API_CONFIG_SECRET_ARN=None, API_CONFIG_JSON=json.dumps(API_CONFIG)))
    assert "FRAUD_API_API_CONFIG_JSON is for ENVIRONMENT=local" in inline
    no_secret = _error(**_aws(ca_bundle, DB_SECRET_ARN=None, DB_USER="app"))
    assert "FRAUD_API_DB_SECRET_ARN is required in AWS" in no_secret


def test_settings_rejects_placeholders_and_malformed_arns(ca_bundle: str) -> None:
    assert "FRAUD_API_DB_HOST is a placeholder" in _error(**_aws(ca_bundle, DB_HOST="changethis"))
    assert "FRAUD_API_DB_SECRET_ARN must be a Secrets Manager ARN" in _error(**_aws(ca_bundle, DB_SECRET_ARN="db"))
    local_pw = _error(
        ENVIRONMENT="local", DATABASE_URL="postgresql://app:changeme@localhost/fraud", API_CONFIG_JSON="{}"
    )
    assert "FRAUD_API_DATABASE_URL (password) is a placeholder" in local_pw


def test_settings_rejects_missing_or_double_sources() -> None:
    nothing = _error(ENVIRONMENT="local")
    assert "database not configured" in nothing
    assert "exactly one of FRAUD_API_API_CONFIG_SECRET_ARN and FRAUD_API_API_CONFIG_JSON" in nothing
    both = _error(ENVIRONMENT="local", DATABASE_URL="postgresql:///x", DB_HOST="h", API_CONFIG_JSON="{}")
    assert "either FRAUD_API_DATABASE_URL or FRAUD_API_DB_HOST" in both


def test_settings_rejects_inconsistent_pool_and_missing_model() -> None:
    error = _error(
        ENVIRONMENT="local",
        DATABASE_URL="postgresql:///x",
        API_CONFIG_JSON="{}",
        DB_POOL_MIN_SIZE=5,
        DB_POOL_MAX_SIZE=2,
        DB_POOL_TIMEOUT_MS=100,
        DB_REQUEST_TIMEOUT_MS=100,
        MODEL_PATH="/no/model.json",
    )
    assert "FRAUD_API_DB_POOL_MIN_SIZE (5) must not exceed FRAUD_API_DB_POOL_MAX_SIZE (2)" in error
    assert "FRAUD_API_DB_POOL_TIMEOUT_MS (100) must be below FRAUD_API_DB_REQUEST_TIMEOUT_MS (100)" in error
    assert "FRAUD_API_MODEL_PATH: no such file" in error


@pytest.mark.parametrize(
    ("registry", "message"),
    [
        (
            {"MODEL_BUCKET": "s3-models"},
            "set both FRAUD_API_MODEL_BUCKET and FRAUD_API_MODEL_POINTER_PARAMETER, or neither",
        ),
        ({"MODEL_POINTER_PARAMETER": "/p"}, "set both FRAUD_API_MODEL_BUCKET and FRAUD_API_MODEL_POINTER_PARAMETER"),
        (
            {"MODEL_BUCKET": "s3-models", "MODEL_POINTER_PARAMETER": "/p", "MODEL_REGISTRY_DIR": "/r"},
            "set either FRAUD_API_MODEL_REGISTRY_DIR or FRAUD_API_MODEL_BUCKET, not both",
        ),
    ],
)
def test_settings_rejects_a_half_configured_model_registry(registry: dict[str, str], message: str) -> None:
    error = _error(ENVIRONMENT="local", DATABASE_URL="postgresql:///x", API_CONFIG_JSON="{}", **registry)
    assert message in error


def test_settings_local_allows_plain_connection() -> None:
    settings = Settings(
        ENVIRONMENT="local",
        DATABASE_URL=SecretStr("postgresql:///fraud"),
        API_CONFIG_JSON=SecretStr("{}"),
        DB_SSLMODE="disable",
    )
    assert connect_kwargs(settings, 100)["sslmode"] == "disable"


def test_settings_every_variable_is_documented() -> None:
    readme = (Path(__file__).resolve().parents[3] / "fraud_api" / "README.md").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"`{name}`" not in readme and f"`{name}," not in readme]
    assert missing == []


def test_settings_admission_defaults_are_sized_to_the_pool_and_bad_values_are_named() -> None:
    local: dict[str, Any] = {"ENVIRONMENT": "local", "DATABASE_URL": "postgresql:///x", "API_CONFIG_JSON": "{}"}
    # GIVEN the defaults THEN as many requests are served at once as the pool has connections, and
    # the queue may hold 100 requests, each waiting at most 100 ms
    settings = Settings(**local)
    assert (settings.DB_POOL_MAX_SIZE, settings.DB_POOL_MAX_WAITING, settings.ADMISSION_QUEUE_TIMEOUT_MS) == (
        10,
        100,
        100,
    )
    assert Settings(**local, DB_POOL_MAX_WAITING=0).DB_POOL_MAX_WAITING == 0  # no queue: refuse beyond the pool
    # WHEN a wait budget of nothing, or a negative queue, is configured THEN the error names the variable
    no_budget = _error(**local, ADMISSION_QUEUE_TIMEOUT_MS=0)
    assert "ADMISSION_QUEUE_TIMEOUT_MS" in no_budget and "greater than or equal to 1" in no_budget
    negative = _error(**local, DB_POOL_MAX_WAITING=-1)
    assert "DB_POOL_MAX_WAITING" in negative and "greater than or equal to 0" in negative
    # AND refusals are answered 250 ms after they are decided, or at once (0), never before
    assert Settings(**local).ADMISSION_REFUSAL_DELAY_MS == 500
    assert Settings(**local, ADMISSION_REFUSAL_DELAY_MS=0).ADMISSION_REFUSAL_DELAY_MS == 0
    early = _error(**local, ADMISSION_REFUSAL_DELAY_MS=-1)
    assert "ADMISSION_REFUSAL_DELAY_MS" in early and "greater than or equal to 0" in early
