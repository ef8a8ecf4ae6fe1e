"""The scoring endpoint called without FastAPI's routing machinery.

Nearly every request is ``POST /api/v1/score``. Through FastAPI it passes the exception and
exit-stack middlewares, the router's match, the route's request/response wrapper and dependency
solving: about an eighth of the service's CPU per decision (``benchmarks/goodput.py``, 8
connections: 0.88 -> 0.76 ms), for an endpoint that takes the raw request, has no dependencies
and returns its own response. ``DirectRoute`` calls that same endpoint function at once and
answers its exceptions with the app's own exception handlers, as Starlette's
``ExceptionMiddleware`` would. The route stays declared in FastAPI: the OpenAPI document, and
every other method or path (405, redirects) still go through the router.

It sits inside the request-id middleware (request id, access log line, trace span) and admission
control, like the router did.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


def exception_handler_for(handlers: Mapping[Any, Callable[..., Any]], exc: Exception) -> Callable[..., Any] | None:
    """The handler registered for the exception's class or its nearest base (Starlette's rule)."""
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None


class DirectRoute:
    """Serves ``method path`` with ``endpoint``; everything else goes on to the app."""

    def __init__(self, app: ASGIApp, method: str, path: str, endpoint: Endpoint) -> None:
        self.app = app
        self.method = method
        self.path = path
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != self.method:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self.endpoint(request)
        except Exception as exc:
            # Nothing has been sent yet: the endpoint builds its response before returning it.
            handler = exception_handler_for(scope["app"].exception_handlers, exc)
            if handler is None:
                raise  # the request-id middleware answers 500 with the request id
            response = handler(request, exc)
            if inspect.isawaitable(response):
                response = await response
        await response(scope, receive, send)
