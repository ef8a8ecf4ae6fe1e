"""The local gateway alone: routes, API key, the REST proxy event it builds, and its error answers.

The processor is replaced by a recorder, so these checks are about the gateway's contract with
API Gateway's behaviour; the real processor behind it is exercised in ``test_local_paths``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from fraud_local.config import API_KEY_ID, probe_port
from fraud_local.gateway import Gateway, match_route

KEY = "test-key-0123456789abcdefghij"


class Recorder:
    def __init__(self, result: Any = None, error: Exception | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.result = result if result is not None else {"statusCode": 201, "headers": {"X-Test": "1"}, "body": "{}"}
        self.error = error

    def __call__(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(recorder: Recorder) -> Iterator[TestClient]:
    # fraud-api's port is free and closed: /api/* has nothing to reach.
    gateway = Gateway(KEY, recorder, f"http://127.0.0.1:{probe_port(0, '--api-port')}")
    with TestClient(gateway.app, base_url="http://127.0.0.1:8080") as test_client:
        yield test_client


def test_gateway_post_transactions_builds_the_rest_proxy_event_of_api_gateway(
    client: TestClient, recorder: Recorder
) -> None:
    # WHEN a transaction is posted with the key and a query string
    response = client.post(
        "/transactions?trace=1", content=b'{"a": 1}', headers={"x-api-key": KEY, "Idempotency-Key": "k-1"}
    )
    # THEN the processor got one REST proxy event, and its answer went back as is
    assert response.status_code == 201 and response.headers["x-test"] == "1"
    [event] = recorder.events
    assert event["resource"] == "/transactions" and event["path"] == "/transactions"
    assert event["httpMethod"] == "POST" and event["pathParameters"] is None
    assert event["body"] == '{"a": 1}' and event["isBase64Encoded"] is False
    assert event["headers"]["idempotency-key"] == "k-1"
    assert event["queryStringParameters"] == {"trace": "1"}
    context = event["requestContext"]
    assert context["requestId"] == response.headers["x-amzn-requestid"]
    assert context["resourcePath"] == "/transactions" and context["httpMethod"] == "POST"
    assert context["identity"]["apiKeyId"] == API_KEY_ID and context["identity"]["sourceIp"]


def test_gateway_get_transaction_passes_the_id_as_path_parameter(client: TestClient, recorder: Recorder) -> None:
    client.get("/transactions/tx-42", headers={"x-api-key": KEY})
    [event] = recorder.events
    assert event["resource"] == "/transactions/{id}" and event["pathParameters"] == {"id": "tx-42"}
    assert event["body"] is None


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "x" * 30}, {"x-api-key": KEY.upper()}])
def test_gateway_missing_or_wrong_key_is_403_forbidden_and_the_processor_is_not_invoked(
    client: TestClient, recorder: Recorder, headers: dict[str, str]
) -> None:
    response = client.post("/transactions", content=b"{}", headers=headers)
    assert response.status_code == 403 and response.json() == {"message": "Forbidden"}
    assert response.headers["x-amzn-errortype"] == "ForbiddenException"
    assert recorder.events == []


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/transactions", "/transactions"),
        ("GET", "/transactions/abc", "/transactions/{id}"),
        ("DELETE", "/api/v1/decisions/x", "/api/{proxy+}"),
        ("GET", "/transactions", None),
        ("PUT", "/transactions/abc", None),
        ("GET", "/api", None),
        ("GET", "/transactions/a/b", None),
    ],
)
def test_match_route_follows_the_deployed_resources(method: str, path: str, expected: str | None) -> None:
    route = match_route(method, path)
    assert (route.resource if route else None) == expected


def test_gateway_function_error_is_502_internal_server_error(recorder: Recorder) -> None:
    failing = Recorder(error=RuntimeError("boom"))
    with TestClient(Gateway(KEY, failing, "http://127.0.0.1:9").app) as client:
        response = client.get("/transactions/x", headers={"x-api-key": KEY})
    assert response.status_code == 502 and response.json() == {"message": "Internal server error"}


def test_gateway_malformed_function_result_is_502(recorder: Recorder) -> None:
    with TestClient(Gateway(KEY, Recorder(result={"body": "no status"}), "http://127.0.0.1:9").app) as client:
        response = client.get("/transactions/x", headers={"x-api-key": KEY})
    assert response.status_code == 502


def test_gateway_api_proxy_with_fraud_api_unreachable_is_502(client: TestClient) -> None:
    response = client.get("/api/health", headers={"x-api-key": KEY})
    assert response.status_code == 502 and response.json() == {"message": "Internal server error"}


def test_gateway_access_log_has_the_route_template_and_never_the_body(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a body with a card number and an id in the path
    with caplog.at_level(logging.INFO, logger="fraud_local.gateway.access"):
        client.post("/transactions", content=b'{"cardNumber": "4111111111111111"}', headers={"x-api-key": KEY})
        client.get("/transactions/4111111111111111", headers={"x-api-key": KEY})
    # THEN the access log lines name the resource templates and hold neither
    lines = [json.loads(record.getMessage()) for record in caplog.records]
    assert [line["resourcePath"] for line in lines] == ["/transactions", "/transactions/{id}"]
    assert all(line["status"] == 201 and line["apiKeyId"] == API_KEY_ID for line in lines)
    assert "4111111111111111" not in caplog.text and KEY not in caplog.text
