"""ASGI apps under a real uvicorn in a thread, and raw HTTP requests to them.

An HTTP client library cannot send a hostile request: httpx refuses control characters and
resolves ``..`` segments before anything leaves the process. These helpers write the request
line and headers as bytes, so a test sends exactly what an attacker would.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

HOST = "127.0.0.1"


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` (lifespan included) on 127.0.0.1, a free port; yield its base URL; stop it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    port = sock.getsockname()[1]
    # http="auto" as fraud_local.gateway.main runs it (httptools when installed).
    server = uvicorn.Server(uvicorn.Config(app, access_log=False, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(
    base_url: str, method: str, target: bytes, headers: Sequence[tuple[bytes, bytes]] = (), body: bytes = b""
) -> RawResponse:
    """Send ``method target`` with ``headers`` byte for byte; return the parsed answer."""
    host, port = base_url.removeprefix("http://").split(":")
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: " + host.encode()]
    lines += [name + b": " + value for name, value in headers]
    lines += [b"Content-Length: " + str(len(body)).encode(), b"Connection: close"]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())


class Upstream:
    """A stand-in fraud-api: answers 200 with what it received, and records every request."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/{path:path}", self._echo, methods=["GET", "POST", "PUT", "DELETE"])])

    async def _echo(self, request: Request) -> JSONResponse:
        seen = {
            "path": request.scope["path"],
            "raw_path": request.scope["raw_path"].decode("latin-1"),
            "query": request.scope["query_string"].decode("latin-1"),
            "headers": [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]],
        }
        self.received.append(seen)
        return JSONResponse(seen)
