"""Credentials from Secrets Manager (moto): the RDS secret is re-read when the password rotates,
and the API configuration is refreshed without ever dropping the last good value."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import psycopg
import pytest
from moto import mock_aws
from pydantic import SecretStr

from fraud_api.app.core.config import Settings
from fraud_api.app.core.secrets import RefreshingValue
from fraud_api.embedded_db import EmbeddedPostgres
from fraud_common.api_config import parse_api_configuration
from tests.api.utils import password_login_role, running_app, transaction
from tests.support.api_app import API_CONFIG, create_database, make_settings

ROLE = "fraud_rotating"
FIRST, SECOND = "first-Password-4f1c9a", "second-Password-8e2b7d"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


@pytest.fixture
def password_role(pg: EmbeddedPostgres) -> Iterator[str]:
    with password_login_role(pg, ROLE, FIRST) as socket_dir:
        yield socket_dir


def _aws_settings(socket_dir: str, secret_arn: str, model_path: Path) -> Settings:
    return Settings(
        ENVIRONMENT="local",
        DB_HOST=socket_dir,
        DB_NAME="rotation",
        DB_SECRET_ARN=secret_arn,
        DB_SSLMODE="disable",
        DB_POOL_MIN_SIZE=1,
        API_CONFIG_JSON=SecretStr(json.dumps(API_CONFIG)),
        AWS_REGION="us-east-1",
        MODEL_PATH=model_path,
    )


def _wait_for_score(client: object, deadline_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if client.post("/api/v1/score", json=transaction()).status_code == 200:  # type: ignore[attr-defined]
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"no successful score within {deadline_s} s")


def test_secrets_rotated_database_password_is_reread_and_service_recovers(
    aws: None, password_role: str, pg: EmbeddedPostgres, model_path: Path
) -> None:
    # GIVEN the RDS-style secret {"username", "password"} and a service using it
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    arn = sm.create_secret(Name="rds!cluster-test", SecretString=json.dumps({"username": ROLE, "password": FIRST}))[
        "ARN"
    ]
    with running_app(_aws_settings(password_role, arn, model_path)) as client:
        assert client.post("/api/v1/score", json=transaction()).status_code == 200
        credentials = client.app.state.runtime.db.credentials  # type: ignore[attr-defined]
        reads_before = credentials.reads
        time.sleep(1.1)  # past the provider's minimum re-read interval
        # WHEN the password rotates (database and secret) and the old sessions are cut
        with psycopg.connect(pg.uri, autocommit=True) as admin:
            admin.execute(f"ALTER ROLE {ROLE} PASSWORD '{SECOND}'".encode())
            sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": ROLE, "password": SECOND}))
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (ROLE,))
        # THEN the service re-reads the secret after the authentication failure and serves again
        _wait_for_score(client, deadline_s=10.0)
        assert credentials.reads == reads_before + 1
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(f"host={password_role} dbname=rotation user={ROLE} password={FIRST}").close()


def test_secrets_api_configuration_read_from_secrets_manager(aws: None, pg: EmbeddedPostgres, model_path: Path) -> None:
    # GIVEN thresholds in the API configuration secret that send everything above 0.01 to review
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    config = {**API_CONFIG, "thresholds": {"review": 0.01, "decline": 0.99}}
    arn = sm.create_secret(Name="fraud-api-config", SecretString=json.dumps(config))["ARN"]
    settings = make_settings(
        create_database(pg.uri, "api_config_secret"),
        model_path,
        API_CONFIG_JSON=None,
        API_CONFIG_SECRET_ARN=arn,
        AWS_REGION="us-east-1",
    )
    # WHEN a small amount is scored THEN the secret's thresholds were used
    with running_app(settings) as client:
        result = client.post("/api/v1/score", json=transaction(amount="10.00")).json()
    assert result["decision"] == "review"
    assert "review threshold 0.01" in result["reasons"][0]


def _eventually(read: Callable[[], float], expected: float, deadline_s: float = 2.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        value = read()
        if value == expected:
            return value
        time.sleep(0.01)
    return read()


def test_secrets_refresh_picks_up_new_value_and_keeps_last_good_on_failure() -> None:
    # GIVEN a configuration source that changes, then breaks
    source = {"value": json.dumps(API_CONFIG)}
    holder = RefreshingValue(lambda: source["value"], parse_api_configuration, refresh_s=0.05, name="t", retry_s=0.05)
    assert holder.get().review_threshold == 0.3
    # WHEN it changes THEN a read after the refresh interval (refreshed in the background) sees it
    source["value"] = json.dumps({**API_CONFIG, "thresholds": {"review": 0.4, "decline": 0.9}})
    time.sleep(0.06)
    assert _eventually(lambda: holder.get().review_threshold, 0.4) == 0.4
    # WHEN the secret turns invalid THEN the last good value stays in force through retries
    source["value"] = "{not json"
    time.sleep(0.06)
    for _ in range(20):
        assert holder.get().review_threshold == 0.4
        time.sleep(0.01)


def test_secrets_refresh_never_blocks_the_caller() -> None:
    # GIVEN a stale value whose source, from now on, answers only when the test lets it (a hung
    # Secrets Manager); the wait is bounded so a get() that blocks fails the test instead of hanging it
    answer = threading.Event()
    answer.set()
    loading, loaded = threading.Event(), threading.Event()

    def load() -> str:
        loading.set()
        answer.wait(timeout=10)
        loaded.set()
        return json.dumps(API_CONFIG)

    holder = RefreshingValue(load, parse_api_configuration, refresh_s=0.01, name="t")
    answer.clear()
    loading.clear()
    loaded.clear()
    time.sleep(0.02)
    # WHEN it is read
    value = holder.get()
    # THEN the current value came back while the refresh it started was still waiting for its source
    assert loading.wait(timeout=10)
    assert not loaded.is_set()
    assert value.review_threshold == 0.3
    answer.set()
