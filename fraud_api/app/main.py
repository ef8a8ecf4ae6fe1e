"""fraud-api application: ``create_app()`` and the module-level ``app`` uvicorn serves.

Settings are read in the lifespan, not at import, so importing this module (tests, OpenAPI
export) needs no environment. Run: ``uvicorn fraud_api.app.main:app``.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter

from fraud_api.app.api.admission import AdmissionMiddleware
from fraud_api.app.api.direct import DirectRoute
from fraud_api.app.api.errors import declare_actual_responses, install_error_handlers
from fraud_api.app.api.main import SCORE_PATH, include_routes
from fraud_api.app.api.routes.score import score_transaction
from fraud_api.app.core.config import Settings, load_settings
from fraud_api.app.core.logging import configure_logging
from fraud_api.app.core.middleware import RequestIdMiddleware
from fraud_api.app.core.secrets import SecretReader
from fraud_api.app.runtime import Runtime

API_VERSION = "1.0.0"


def create_app(
    settings: Settings | None = None,
    *,
    secret_reader: SecretReader | None = None,
    span_exporter: SpanExporter | None = None,
    direct_score_route: bool = True,
) -> FastAPI:
    """Build the application. ``settings`` default to the environment (read at startup);
    ``secret_reader`` replaces Secrets Manager, ``span_exporter`` the configured trace exporter (tests).
    ``direct_score_route=False`` serves the scoring endpoint through FastAPI's router like the others
    (the test that both answer alike)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = settings if settings is not None else load_settings()
        configure_logging(resolved.LOG_LEVEL)
        runtime = Runtime.build(resolved, secret_reader, span_exporter)
        await runtime.start()
        app.state.runtime = runtime
        # Build the OpenAPI document now: the access log derives its route templates from it,
        # and the first request should not pay for it.
        app.openapi()
        # Everything allocated so far (modules, the compiled model, FastAPI's schemas) lives as
        # long as the process: move it out of the cyclic collector's reach. Without this, each
        # full collection walked all of it and stalled the event loop for ~60 ms every few
        # seconds under load, which was the benchmark's p99.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="fraud-api",
        version=API_VERSION,
        summary="Real-time card fraud scoring",
        description=(
            "Scores card transactions from the customer's and terminal's history, stores the decision "
            "and takes confirmed labels back. Card numbers are never stored, logged or returned: only a "
            "keyed hash, the BIN and the last four digits."
        ),
        lifespan=lifespan,
        # The ALB forwards /api/* only, so the documents live under it too.
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    if direct_score_route:
        # Innermost: the request id, access log and admission apply as they do to routed requests.
        app.add_middleware(DirectRoute, method="POST", path=SCORE_PATH, endpoint=score_transaction)
    app.add_middleware(RequestIdMiddleware)
    # Added last, so outermost: a refusal costs no request-id, access-log or routing work.
    app.add_middleware(AdmissionMiddleware)
    install_error_handlers(app)
    include_routes(app)
    fastapi_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        # FastAPI caches the document; removing the 422s again on a cached one changes nothing.
        return declare_actual_responses(fastapi_openapi())

    app.openapi = openapi  # type: ignore[method-assign]
    return app


app = create_app()
