"""The local gateway alone: routes, API key, the REST proxy event it builds, and its error answers.

The processor is replaced by a recorder, so these checks are about the gateway's contract with
API Gateway's behaviour; the real processor behind it is exercised in ``test_local_paths``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from fraud_local.config import API_KEY_ID, probe_port
from fraud_local.gateway import Gateway, match_route
from tests.support.raw_http import RawResponse, Upstream, raw_request, serve

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
        ("POST", "/transactions/abc/label", "/transactions/{id}/label"),
        ("GET", "/transactions/abc/label", None),
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


# --- Hostile paths and headers (issue 11, finding 6): a real uvicorn, requests written byte for byte.

BAD_PATH = {
    "message": "Invalid request path: control characters, invalid UTF-8 and '.' or '..' segments are not allowed"
}
CONTROL_BYTES = [*range(0x00, 0x20), 0x7F]


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    fake = Upstream()
    with serve(fake.app) as url:
        fake.url = url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
def live(upstream: Upstream) -> Iterator[tuple[str, Recorder, Upstream]]:
    """The gateway under uvicorn in front of the stand-in fraud-api and a recording processor."""
    recorder = Recorder()
    upstream.received.clear()
    with serve(Gateway(KEY, recorder, upstream.url).app) as url:  # type: ignore[attr-defined]
        yield url, recorder, upstream


def _get(url: str, target: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> RawResponse:
    return raw_request(url, "GET", target, [(b"x-api-key", KEY.encode()), *(headers or [])])


@pytest.mark.parametrize("prefix", [b"/api/v1/decisions/", b"/transactions/", b"/api/", b"/elsewhere/"])
def test_gateway_control_characters_in_any_path_are_400_json_and_reach_nothing(
    live: tuple[str, Recorder, Upstream], prefix: bytes
) -> None:
    url, recorder, upstream = live
    for byte in CONTROL_BYTES:
        # WHEN the path holds a percent-encoded control character (every C0 control and DEL)
        response = _get(url, prefix + b"tx%" + f"{byte:02X}".encode() + b"1")
        # THEN API Gateway's JSON 400, never a 5xx, and neither integration ran
        assert (response.status, response.json()) == (400, BAD_PATH), byte
        assert response.headers["x-amzn-errortype"] == "BadRequestException"
    assert recorder.events == [] and upstream.received == []


@pytest.mark.parametrize(
    "target",
    [
        b"/api/v1/decisions/..%2F..%2Fhealth",
        b"/api/v1/decisions/..%2f..%2f..%2ftransactions",
        b"/api/v1/decisions/%2e%2e/%2e%2e/health",
        b"/api/v1/decisions/%2E%2e/%2E./ready",
        b"/api/v1/decisions/.%2E%2Fx",
        b"/api/v1/../health",
        b"/api/./health",
        b"/api/%2e/health",
        b"/api/..",
        b"/api/v1/decisions/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        b"/transactions/..",
        b"/transactions/%2e%2e",
        b"/api/v1/decisions/%FF%FE",
    ],
)
def test_gateway_dot_segments_raw_or_encoded_any_case_are_refused_never_resolved(
    live: tuple[str, Recorder, Upstream], target: bytes
) -> None:
    url, recorder, upstream = live
    response = _get(url, target)
    assert (response.status, response.json()) == (400, BAD_PATH)
    assert recorder.events == [] and upstream.received == []


def test_gateway_forwards_the_path_and_query_as_encoded_and_stays_under_api(
    live: tuple[str, Recorder, Upstream],
) -> None:
    url, _, upstream = live
    # WHEN a path holds an encoded slash and dots that are not segments, and the query odd bytes
    response = _get(url, b"/api/v1/decisions/a%2Fb..c%2e?q=%01%00&card=x+y")
    # THEN fraud-api receives exactly that target: one decoding, by fraud-api, as behind the ALB
    assert response.status == 200
    [seen] = upstream.received
    assert seen["raw_path"] == "/api/v1/decisions/a%2Fb..c%2e"
    assert seen["path"] == "/api/v1/decisions/a/b..c."
    assert seen["query"] == "q=%01%00&card=x+y"


@pytest.mark.parametrize("value", [b"caf\xe9", b"\xff\xfe", b"\x80", "ü€".encode()])
def test_gateway_forwards_header_bytes_beyond_ascii_instead_of_failing(
    live: tuple[str, Recorder, Upstream], value: bytes
) -> None:
    url, _, upstream = live
    response = _get(url, b"/api/health", [(b"x-note", value)])
    assert response.status == 200
    [seen] = upstream.received
    assert ("x-note", value.decode("latin-1")) in [tuple(h) for h in seen["headers"]]


def test_gateway_any_integration_exception_is_502_json(
    live: tuple[str, Recorder, Upstream], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _, _ = live

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("not an httpx error")

    monkeypatch.setattr(httpx.AsyncClient, "request", broken)
    response = _get(url, b"/api/health")
    assert (response.status, response.json()) == (502, {"message": "Internal server error"})


def test_gateway_keeps_the_callers_api_key_from_fraud_api(live: tuple[str, Recorder, Upstream]) -> None:
    url, _, upstream = live
    # WHEN a keyed request (the key also under another spelling of the header name) goes to /api/*
    response = _get(url, b"/api/health", [(b"X-API-Key", KEY.encode()), (b"x-note", b"kept")])
    # THEN fraud-api never sees the key (API Gateway checks it and does not pass it on), the other
    # headers arrive, and the caller's address comes as X-Forwarded-For
    assert response.status == 200
    [seen] = upstream.received
    received = {name.lower(): value for name, value in seen["headers"]}
    assert "x-api-key" not in received
    assert KEY not in json.dumps(seen)
    assert received["x-note"] == "kept"
    assert received["x-forwarded-for"] == "127.0.0.1"
