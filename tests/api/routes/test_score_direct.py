"""POST /api/v1/score served by api/direct.py answers exactly as FastAPI's router would."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from fraud_api.app.api.direct import DirectRoute, exception_handler_for
from fraud_api.app.api.main import SCORE_PATH
from fraud_api.app.api.routes import score
from fraud_api.app.api.routes.score import score_transaction
from fraud_api.app.core.config import Settings
from fraud_api.app.core.db import DatabaseUnavailable
from fraud_api.app.main import create_app
from fraud_api.app.scoring import ScoringService
from fraud_common.card import random_letters
from tests.api.utils import OTHER_PAN, transaction

# Headers that carry the outcome (X-Request-Id is new on every request; its presence is compared).
_COMPARED_HEADERS = ("content-type", "retry-after", "idempotent-replayed", "allow", "location")


@pytest.fixture(scope="module")
def both(settings: Settings) -> Iterator[dict[str, TestClient]]:
    """The app as served (direct route) and the same app with every route through FastAPI's router."""
    apps = {"direct": create_app(settings), "router": create_app(settings, direct_score_route=False)}
    with ExitStack() as running:
        yield {
            name: running.enter_context(TestClient(app, raise_server_exceptions=False)) for name, app in apps.items()
        }


def _outcome(response: httpx.Response, ids: dict[str, str]) -> tuple[int, Any, dict[str, str | None], bool]:
    """Status, body (with this app's ids put back to placeholders) and the compared headers."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    text = repr(body)
    for placeholder, value in ids.items():
        text = text.replace(value, placeholder)
    request_id = response.headers.get("x-request-id")
    if request_id:
        text = text.replace(request_id, "<request id>")
    return response.status_code, text, {h: response.headers.get(h) for h in _COMPARED_HEADERS}, bool(request_id)


def test_direct_route_serves_the_endpoint_fastapi_declares(both: dict[str, TestClient]) -> None:
    # GIVEN the scoring router and the app as served
    declared = [(r.path, r.methods, r.endpoint) for r in score.router.routes if isinstance(r, APIRoute)]
    document = both["direct"].get("/api/openapi.json").json()
    # THEN the router declares POST with the very function the direct route calls, the app documents
    # it at the path the direct route serves, so the document and the endpoint cannot drift apart
    assert declared == [("/score", {"POST"}, score_transaction)]
    assert [m.kwargs for m in both["direct"].app.user_middleware if m.cls is DirectRoute] == [  # type: ignore[attr-defined]
        {"method": "POST", "path": "/api/v1/score", "endpoint": score_transaction}
    ]
    assert not [m for m in both["router"].app.user_middleware if m.cls is DirectRoute]  # type: ignore[attr-defined]
    assert SCORE_PATH == "/api/v1/score"
    assert "post" in document["paths"]["/api/v1/score"]


Sender = Callable[[TestClient, dict[str, str]], httpx.Response]


def _score(**fields: Any) -> Sender:
    return lambda client, ids: client.post("/api/v1/score", json=transaction(**{**fields, **ids}))


def _raw(content: bytes, headers: dict[str, str] | None = None) -> Sender:
    return lambda client, _: client.post("/api/v1/score", content=content, headers=headers or {})


CASES: dict[str, Sender] = {
    "new transaction": _score(amount="42.50"),
    "large amount": _score(amount="9000.00"),
    "not JSON": _raw(b"{not json"),
    "empty body": _raw(b""),
    "a card security code sent": _raw(b'{"cvv": "123"}', {"content-type": "application/json"}),
    "over the size limit": _raw(b'{"a": "' + b"x" * 20_000 + b'"}'),
    "PAN in an identifier": _score(terminalId="4111111111111111"),
    "GET": lambda client, _: client.get("/api/v1/score"),
    "trailing slash": lambda client, ids: client.post(
        "/api/v1/score/", json=transaction(**ids), follow_redirects=False
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_direct_route_answers_as_the_router_does(both: dict[str, TestClient], case: str) -> None:
    outcomes = []
    for client in both.values():
        # GIVEN fresh ids for each app (the same transaction scored twice would be a replay)
        ids = {"transactionId": f"tx-{random_letters(16)}", "customerId": f"cust-{random_letters(16)}"}
        # WHEN the same request is sent to each
        outcomes.append(_outcome(CASES[case](client, ids), ids))
    # THEN status, body, outcome headers and the request id all match
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][3], "no X-Request-Id"


def test_direct_route_replays_and_refuses_conflicts_as_the_router_does(both: dict[str, TestClient]) -> None:
    outcomes = []
    for client in both.values():
        # GIVEN a scored transaction
        ids = {"transactionId": f"tx-{random_letters(16)}", "customerId": f"cust-{random_letters(16)}"}
        body = transaction(**ids)
        first = client.post("/api/v1/score", json=body)
        # WHEN it is sent again, then with the same id and another card
        replay = client.post("/api/v1/score", json=body)
        conflict = client.post("/api/v1/score", json={**body, "cardNumber": OTHER_PAN})
        outcomes.append([_outcome(r, ids) for r in (first, replay, conflict)])
    # THEN both apps answer 200, 200 replayed, 409, alike
    assert [o[0] for o in outcomes[0]] == [200, 200, 409]
    assert outcomes[0][1][2]["idempotent-replayed"] == "true"
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("failure", ["database unavailable", "unexpected error"])
def test_direct_route_answers_failures_as_the_router_does(
    both: dict[str, TestClient], monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    # GIVEN scoring that fails: a mapped error (503 by its handler) or one nothing maps (500)
    error = DatabaseUnavailable("down") if failure == "database unavailable" else RuntimeError("boom")

    async def failing(*_: object, **__: object) -> None:
        raise error

    monkeypatch.setattr(ScoringService, "score", failing)
    # WHEN each app scores a transaction
    outcomes = []
    for client in both.values():
        ids = {"transactionId": f"tx-{random_letters(16)}"}
        outcomes.append(_outcome(client.post("/api/v1/score", json=transaction(**ids)), ids))
    # THEN both answer the same status and body, with the request id
    assert outcomes[0][0] == (503 if failure == "database unavailable" else 500)
    assert outcomes[0] == outcomes[1]


def test_exception_handler_for_takes_the_nearest_registered_class() -> None:
    # GIVEN handlers for LookupError and for KeyError (a LookupError)
    def on_lookup() -> None: ...
    def on_key() -> None: ...

    handlers = {LookupError: on_lookup, KeyError: on_key}
    # WHEN a handler is looked up for each kind of exception
    # THEN the exception's own class wins, then its nearest registered base, else none (Starlette's rule)
    assert exception_handler_for(handlers, KeyError("k")) is on_key
    assert exception_handler_for(handlers, IndexError(0)) is on_lookup
    assert exception_handler_for(handlers, ValueError("v")) is None


# --- DirectRoute on its own: which requests it takes, and what it hands on.


Calls = list[tuple[str, Scope, Receive, Send]]


class _Recorded(Response):
    """A response that records what it was called with instead of sending."""

    def __init__(self, name: str, calls: Calls) -> None:
        super().__init__()
        self.name, self.calls = name, calls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls.append((self.name, scope, receive, send))


class _Mapped(Exception):
    pass


def _call(
    calls: Calls, raises: Exception | None = None, kind: str = "http", method: str = "POST", path: str = "/x"
) -> tuple[Scope, Receive, Send]:
    """One request through DirectRoute for POST /x, over an app that records, in an app that maps
    _Mapped to a handler; returns the request's scope, receive and send."""

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(("app", scope, receive, send))

    async def endpoint(request: Request) -> Response:
        assert request.method == "POST" and request.url.path == "/x"
        if raises is not None:
            raise raises
        return _Recorded("endpoint", calls)

    async def on_mapped(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _Mapped) and request.url.path == "/x"
        return _Recorded("handler", calls)

    app = SimpleNamespace(exception_handlers={_Mapped: on_mapped})
    scope: Scope = {"type": kind, "method": method, "path": path, "headers": [], "query_string": b"", "app": app}

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(_: Message) -> None:
        raise AssertionError("the recorded responses send nothing")

    asyncio.run(DirectRoute(inner, method="POST", path="/x", endpoint=endpoint)(scope, receive, send))
    return scope, receive, send


@pytest.mark.parametrize(
    ("kind", "method", "path"),
    [("http", "GET", "/x"), ("http", "POST", "/y"), ("http", "POST", "/x/"), ("websocket", "POST", "/x")],
)
def test_direct_route_passes_on_what_it_does_not_serve(kind: str, method: str, path: str) -> None:
    # GIVEN a direct route for POST /x
    calls: Calls = []
    # WHEN another method, path or scope type arrives
    scope, receive, send = _call(calls, kind=kind, method=method, path=path)
    # THEN the app behind it gets it, untouched
    assert calls == [("app", scope, receive, send)]


def test_direct_route_serves_its_request_with_the_endpoint() -> None:
    # GIVEN a direct route for POST /x
    calls: Calls = []
    # WHEN POST /x arrives
    scope, receive, send = _call(calls)
    # THEN the endpoint's response is sent with the request's own scope, receive and send
    assert calls == [("endpoint", scope, receive, send)]


def test_direct_route_answers_a_mapped_error_with_its_handler_and_raises_the_rest() -> None:
    # GIVEN an endpoint that raises an exception the app maps, then one it does not
    calls: Calls = []
    # WHEN each is raised
    scope, receive, send = _call(calls, raises=_Mapped())
    # THEN the first is answered by its handler (given the request), the second propagates
    assert calls == [("handler", scope, receive, send)]
    with pytest.raises(KeyError):
        _call(calls, raises=KeyError("unmapped"))
