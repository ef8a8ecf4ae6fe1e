"""The local API Gateway: the deployed REST API's routes, API key check and proxy event shapes.

Routes, as ``components/api_gateway.py`` declares them, each requiring the API key:

* ``POST /transactions``, ``GET /transactions/{id}`` and ``POST /transactions/{id}/label``: an
  ``AWS_PROXY`` integration, so the request becomes a REST proxy event and the real processor
  handler runs in this process;
* ``ANY /api/{proxy+}``: an ``HTTP_PROXY`` integration to fraud-api (3 s timeout, as deployed).

Answers the gateway itself gives are API Gateway's: a path with control characters, invalid
UTF-8 or a ``.``/``..`` segment (raw or percent-encoded) is ``400 {"message": ...}`` before any
route is matched, so no client path can reach another route or leave ``/api``; an unknown route or
method is ``403 {"message": "Missing Authentication Token"}``, a missing or wrong key
``403 {"message": "Forbidden"}``, a failed integration ``502 {"message": "Internal server error"}``
and a slow one ``504 {"message": "Endpoint request timed out"}``. One access log line per request
with the fields of the deployed stage's access log; never a body, never a raw path.

Run as a child of local mode: ``python -m fraud_local.gateway`` with the processor's variables.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import anyio.to_thread
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from fraud_local.config import API_KEY_ID, HOST, MOTO_ACCOUNT_ID

STAGE = "local"
API_TIMEOUT_S = 3.0
"""As ``ALB_TIMEOUT_MS`` on the deployed /api/{proxy+} integration."""
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
"""API Gateway's request payload limit."""
ANY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
# Hop-by-hop and framing headers are the proxy's own business, never forwarded.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding"}
    | {"upgrade", "host", "content-length", "content-encoding"}
)
_ITEM_RE = re.compile(r"/transactions/([^/]+)")
_LABEL_RE = re.compile(r"/transactions/([^/]+)/label")
# C0 controls and DEL: httpx refuses them in a URL, and no route or identifier holds one.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
BAD_PATH_MESSAGE = "Invalid request path: control characters, invalid UTF-8 and '.' or '..' segments are not allowed"
_PROXY_RE = re.compile(r"/api/(.+)")
access_log = logging.getLogger("fraud_local.gateway.access")

Invoke = Callable[[dict[str, Any]], Any]

# ISO 8601 with Z, not API Gateway's "21/Nov/2026:12:00:00 +0000": in that form the time's digits
# join into 14, which the card-number redaction masks about 1 time in 10.
ACCESS_LOG_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Route:
    resource: str
    """The resource template, e.g. ``/transactions/{id}`` (logged instead of the path)."""
    path_parameters: dict[str, str] | None = None
    proxy: bool = False
    """True: HTTP_PROXY to fraud-api; False: AWS_PROXY to the processor."""


def path_problem(raw_path: bytes) -> str | None:
    """Why a request path (as sent, still percent-encoded) is refused with 400, or None.

    Checked on the *decoded* path, segment by segment: ``..%2F``, ``%2e%2e`` and ``%2E.`` are
    ``..`` once decoded, and an HTTP client or fraud-api would resolve them into another route
    (``/api/v1/decisions/..%2F..%2Fhealth`` into ``/api/health``, or out of ``/api``). API Gateway
    never does that, so they are refused, not normalised.
    """
    try:
        path = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        return BAD_PATH_MESSAGE
    if _CONTROL_RE.search(path) or any(segment in (".", "..") for segment in path.split("/")):
        return BAD_PATH_MESSAGE
    return None


def match_route(method: str, path: str) -> Route | None:
    """The deployed route for ``method`` and ``path``, or None (API Gateway's 403)."""
    if path == "/transactions":
        return Route("/transactions") if method == "POST" else None
    if item := _ITEM_RE.fullmatch(path):
        return Route("/transactions/{id}", {"id": item.group(1)}) if method == "GET" else None
    if label := _LABEL_RE.fullmatch(path):
        return Route("/transactions/{id}/label", {"id": label.group(1)}) if method == "POST" else None
    if proxy := _PROXY_RE.fullmatch(path):
        return Route("/api/{proxy+}", {"proxy": proxy.group(1)}, proxy=True) if method in ANY_METHOD else None
    return None


@dataclass
class IncomingRequest:
    """What API Gateway knows of a request when it builds the event."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    query_string: str
    body: bytes
    source_ip: str
    raw_target: bytes = b""
    """The path and query exactly as sent (still percent-encoded): what /api/* forwards."""
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    received: datetime = field(default_factory=lambda: datetime.now(tz=UTC))


def rest_proxy_event(request: IncomingRequest, route: Route, *, api_key: str, domain: str) -> dict[str, Any]:
    """The REST API ``AWS_PROXY`` event (payload format 1.0) for ``request`` on ``route``."""
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        headers[name] = value  # the last value wins, as API Gateway does
        multi_headers.setdefault(name, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.query_string, keep_blank_values=True):
        query[name] = value
        multi_query.setdefault(name, []).append(value)
    try:
        body: str | None = request.body.decode("utf-8") if request.body else None
        encoded = False
    except UnicodeDecodeError:
        body, encoded = base64.b64encode(request.body).decode("ascii"), True
    user_agent = headers.get("user-agent") or headers.get("User-Agent")
    return {
        "resource": route.resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": route.path_parameters,
        "stageVariables": None,
        "requestContext": {
            "accountId": MOTO_ACCOUNT_ID,
            "apiId": "local",
            "resourceId": route.resource,
            "resourcePath": route.resource,
            "httpMethod": request.method,
            "requestId": request.request_id,
            "extendedRequestId": request.request_id,
            "requestTime": request.received.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(request.received.timestamp() * 1000),
            "path": f"/{STAGE}{request.path}",
            "protocol": "HTTP/1.1",
            "stage": STAGE,
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "identity": {
                "sourceIp": request.source_ip,
                "userAgent": user_agent,
                "apiKey": api_key,
                "apiKeyId": API_KEY_ID,
            },
        },
        "body": body,
        "isBase64Encoded": encoded,
    }


def gateway_error(status: int, message: str, error_type: str, request_id: str) -> Response:
    return Response(
        json.dumps({"message": message}),
        status_code=status,
        media_type="application/json",
        headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error_type},
    )


def lambda_response(result: Any, request_id: str) -> Response:
    """The HTTP answer for a proxy integration's result; a malformed result is a 502, as deployed."""
    if not isinstance(result, Mapping) or not isinstance(result.get("statusCode"), int):
        return gateway_error(502, "Internal server error", "InternalServerErrorException", request_id)
    body = result.get("body") or ""
    if not isinstance(body, str):
        return gateway_error(502, "Internal server error", "InternalServerErrorException", request_id)
    content = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    response = Response(content, status_code=result["statusCode"])
    for name, value in (result.get("headers") or {}).items():
        response.headers[str(name)] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.append(str(name), str(value))
    response.headers["x-amzn-RequestId"] = request_id
    return response


class Gateway:
    """The ASGI app (``.app``) in front of the processor and fraud-api."""

    def __init__(self, api_key: str, invoke_processor: Invoke, api_url: str) -> None:
        self._api_key = api_key.encode()
        self._invoke = invoke_processor
        self._api_url = api_url.rstrip("/")
        self._http: httpx.AsyncClient | None = None
        # Starlette only for the lifespan: its router would answer some paths itself (a plain-text
        # 404 for a path holding a newline, which its route pattern cannot match; a 405 for an odd
        # method), and every request must get API Gateway's answers from _endpoint.
        self._lifespan_app = Starlette(lifespan=self._lifespan)

        # A plain function, not a bound method: uvicorn detects ASGI 3 by inspecting a function.
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await self._asgi(scope, receive, send)

        self.app: ASGIApp = app

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Every HTTP request goes to ``_endpoint``, whatever its path or method."""
        if scope["type"] != "http":
            await self._lifespan_app(scope, receive, send)
            return
        response = await self._endpoint(Request(scope, receive))
        await response(scope, receive, send)

    @asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=API_TIMEOUT_S, follow_redirects=False) as http:
            self._http = http
            yield
        self._http = None

    def _key_ok(self, request: Request) -> bool:
        supplied = request.headers.get("x-api-key")
        return supplied is not None and hmac.compare_digest(supplied.encode(), self._api_key)

    async def _endpoint(self, request: Request) -> Response:
        started = time.perf_counter()
        raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode("utf-8")
        query: bytes = request.scope.get("query_string", b"")
        incoming = IncomingRequest(
            method=request.method,
            path=request.url.path,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]],
            query_string=request.url.query,
            body=b"",
            source_ip=request.client.host if request.client else HOST,
            raw_target=raw_path + (b"?" + query if query else b""),
        )
        bad_path = path_problem(raw_path)
        route = None if bad_path else match_route(incoming.method, incoming.path)
        integration_ms: float | None = None
        if bad_path:
            response = gateway_error(400, bad_path, "BadRequestException", incoming.request_id)
        elif route is None:
            response = gateway_error(
                403, "Missing Authentication Token", "MissingAuthenticationTokenException", incoming.request_id
            )
        elif not self._key_ok(request):
            response = gateway_error(403, "Forbidden", "ForbiddenException", incoming.request_id)
        else:
            incoming.body = await request.body()
            begun = time.perf_counter()
            if len(incoming.body) > MAX_PAYLOAD_BYTES:
                response = gateway_error(413, "Request Too Long", "RequestTooLongException", incoming.request_id)
            elif route.proxy:
                response = await self._forward(incoming, route)
            else:
                response = await self._call_processor(incoming, route, request.url.netloc)
            integration_ms = (time.perf_counter() - begun) * 1000
        self._log(incoming, route, response, (time.perf_counter() - started) * 1000, integration_ms)
        return response

    async def _call_processor(self, incoming: IncomingRequest, route: Route, domain: str) -> Response:
        event = rest_proxy_event(incoming, route, api_key=self._api_key.decode(), domain=domain)
        try:
            result = await anyio.to_thread.run_sync(self._invoke, event)
        except Exception:
            # A function error: API Gateway answers 502; the handler's own log has the details.
            logging.getLogger(__name__).exception(
                "processor invocation failed", extra={"requestId": incoming.request_id}
            )
            return gateway_error(502, "Internal server error", "InternalServerErrorException", incoming.request_id)
        return lambda_response(result, incoming.request_id)

    async def _forward(self, incoming: IncomingRequest, route: Route) -> Response:
        assert self._http is not None and route.proxy
        # The path and query go on exactly as the client encoded them (path_problem has refused
        # dot segments), so fraud-api decodes them once, as behind the ALB: rebuilding the URL from
        # the decoded path would turn an encoded '/' into a real one.
        url = httpx.URL(self._api_url).copy_with(raw_path=incoming.raw_target)
        # Bytes, not str: httpx encodes str header values as ASCII and would raise on any other byte.
        headers = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in incoming.headers
            if k.lower() not in _HOP_BY_HOP and k.lower() != "x-api-key"
        ]
        headers.append((b"x-forwarded-for", incoming.source_ip.encode("latin-1")))
        try:
            upstream = await self._http.request(incoming.method, url, headers=headers, content=incoming.body)
        except httpx.TimeoutException:
            return gateway_error(504, "Endpoint request timed out", "IntegrationTimeout", incoming.request_id)
        except httpx.InvalidURL:
            # What the client sent cannot be a URL (e.g. a control byte in the query): its mistake.
            return gateway_error(400, "Invalid request", "BadRequestException", incoming.request_id)
        except Exception as exc:
            # Connection refused or reset, a protocol error, anything else: API Gateway's 502, never
            # Starlette's plain-text 500. Only the exception's type is logged: httpx's messages may
            # hold the URL, and so a card number a client put in it.
            logging.getLogger(__name__).error(
                "fraud-api integration failed: %s", type(exc).__name__, extra={"requestId": incoming.request_id}
            )
            return gateway_error(502, "Internal server error", "InternalServerErrorException", incoming.request_id)
        response = Response(upstream.content, status_code=upstream.status_code)
        for name, value in upstream.headers.multi_items():
            if name.lower() not in _HOP_BY_HOP:
                response.headers.append(name, value)
        response.headers["x-amzn-RequestId"] = incoming.request_id
        return response

    @staticmethod
    def _log(
        incoming: IncomingRequest,
        route: Route | None,
        response: Response,
        latency_ms: float,
        integration_ms: float | None,
    ) -> None:
        # The deployed stage's access log fields. The resource template stands in for the path,
        # so no client-controlled text reaches the log.
        access_log.info(
            json.dumps(
                {
                    "requestId": incoming.request_id,
                    "ip": incoming.source_ip,
                    "apiKeyId": API_KEY_ID if route is not None and response.status_code != 403 else None,
                    "requestTime": incoming.received.strftime(ACCESS_LOG_TIME_FORMAT),
                    "httpMethod": incoming.method,
                    "resourcePath": route.resource if route is not None else None,
                    "status": response.status_code,
                    "responseLength": len(response.body),
                    "latencyMs": round(latency_ms, 2),
                    "integrationLatencyMs": round(integration_ms, 2) if integration_ms is not None else None,
                },
                sort_keys=True,
            )
        )


def main() -> None:
    """Child entry point: the processor's variables are already in the environment."""
    import uvicorn

    from fraud_local.logs import configure_child_logging
    from fraud_local.processes import exit_with_parent
    from fraud_local.runtime import FunctionRuntime

    configure_child_logging()  # before anything logs: redaction on every logger, no raw URLs
    # Imported only now: Powertools reads the function's variables when its singletons are built.
    from functions.processor.handler import lambda_handler

    function = FunctionRuntime(os.environ["FRAUD_LOCAL_PROCESSOR_NAME"], lambda_handler)
    gateway = Gateway(os.environ["FRAUD_LOCAL_API_KEY"], function.invoke, os.environ["FRAUD_LOCAL_API_URL"])
    config = uvicorn.Config(
        gateway.app,
        host=HOST,
        port=int(os.environ["FRAUD_LOCAL_GATEWAY_PORT"]),
        access_log=False,
        server_header=False,
        log_config=None,
    )
    server = uvicorn.Server(config)

    def stop() -> None:
        server.should_exit = True

    exit_with_parent(stop)
    server.run()
    if not server.started:
        sys.exit(3)


if __name__ == "__main__":
    main()
