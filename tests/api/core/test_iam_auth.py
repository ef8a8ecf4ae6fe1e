"""RDS IAM authentication: the request pool logs in as the least-privileged service user."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from fraud_api.app.core.config import SERVICE_DB_USER
from fraud_api.app.core.migrations import migrate
from fraud_api.app.core.secrets import IamTokenCredentials, rds_token_signer
from fraud_api.embedded_db import EmbeddedPostgres
from tests.api.utils import query, running_app, transaction
from tests.support.api_app import create_database, make_settings


def test_iam_token_is_reused_then_signed_again_after_a_refusal() -> None:
    # GIVEN a token source whose signer counts its calls
    signed: list[tuple[str, int, str]] = []

    def signer(host: str, port: int, user: str) -> str:
        signed.append((host, port, user))
        return f"token-{len(signed)}"

    source = IamTokenCredentials("db.example", 5432, SERVICE_DB_USER, signer)
    # WHEN connections ask for credentials twice THEN one token serves both
    assert source.get().password == source.get().password == "token-1"
    assert source.get().username == "fraud_api"
    # WHEN a login is refused THEN the next connection gets a fresh token
    source.invalidate()
    assert source.get().password == "token-2"
    assert signed == [("db.example", 5432, "fraud_api")] * 2
    assert "token" not in repr(source.get())


def test_iam_token_is_a_sigv4_connect_request_for_the_service_user(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}.items():
        monkeypatch.setenv(name, value)
    token = rds_token_signer("us-east-1")("aurora.cluster-abc.us-east-1.rds.amazonaws.com", 5432, SERVICE_DB_USER)
    assert token.startswith("aurora.cluster-abc.us-east-1.rds.amazonaws.com:5432/?Action=connect")
    assert f"DBUser={SERVICE_DB_USER}" in token and "X-Amz-Signature=" in token


@pytest.fixture(scope="module")
def iam_url(pg: EmbeddedPostgres) -> Iterator[str]:
    # Aurora has an rds_iam role; the embedded server gets one (for this module only, roles are
    # server-wide) so the migration's grant runs.
    with psycopg.connect(pg.uri, autocommit=True) as conn:
        conn.execute("DO $$ BEGIN CREATE ROLE rds_iam; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    url = create_database(pg.uri, "iam_auth")
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, iam_auth=True)
    yield url
    with psycopg.connect(pg.uri, autocommit=True) as conn:
        conn.execute("DROP ROLE rds_iam")


def test_iam_service_user_may_only_score_read_and_label(iam_url: str) -> None:
    privileges = {
        privilege: query(iam_url, "SELECT has_table_privilege('fraud_api', 'transactions', %s)", (privilege,))[0][0]
        for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
    }
    assert privileges == {"SELECT": True, "INSERT": True, "UPDATE": True, "DELETE": False, "TRUNCATE": False}
    assert query(iam_url, "SELECT has_table_privilege('fraud_api', 'schema_migrations', 'SELECT')") == [(False,)]
    assert query(iam_url, "SELECT pg_has_role('fraud_api', 'rds_iam', 'member')") == [(True,)]


def test_iam_requests_run_as_the_service_user(iam_url: str, model_path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}.items():
        monkeypatch.setenv(name, value)
    # The embedded server trusts its Unix socket, so the token is not checked here; what is
    # checked is that every request path works with the service user's grants alone.
    settings = make_settings(iam_url, model_path, DB_IAM_AUTH=True, AWS_REGION="us-east-1")
    with running_app(settings) as client:
        body = transaction()
        scored = client.post("/api/v1/score", json=body)
        assert scored.status_code == 200
        assert client.get(f"/api/v1/decisions/{body['transactionId']}").status_code == 200
        feedback = {"transactionId": body["transactionId"], "fraud": True, "source": "chargeback"}
        assert client.post("/api/v1/feedback", json=feedback).status_code == 200
        users = query(
            iam_url,
            "SELECT DISTINCT usename FROM pg_stat_activity "
            "WHERE datname = 'iam_auth' AND application_name = 'fraud-api'",
        )
    assert users == [("fraud_api",)]
