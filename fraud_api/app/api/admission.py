"""Admission control at the edge of the application: the first thing a request meets.

It runs outside every other middleware, so a refused request costs what uvicorn already spent
parsing its head plus a constant answer: no body read, no routing, no access-log line (refusals
are counted in the metrics; the warning is sampled). Only the data endpoints under
``/api/v1`` are admitted through the gate (``core/overload.py``); health and readiness checks,
and the documents, always pass, so a load balancer never takes an overloaded task for a dead one.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from fraud_api.app.api.errors import overloaded_response
from fraud_api.app.api.main import API_V1_PREFIX
from fraud_api.app.core.middleware import request_id_of
from fraud_api.app.core.overload import AdmissionGate

_GATED_PREFIX = API_V1_PREFIX + "/"


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(_GATED_PREFIX):
            await self.app(scope, receive, send)
            return
        gate: AdmissionGate = scope["app"].state.runtime.admission
        granted_at = await gate.enter()
        if granted_at is None:
            state = f"{gate.active} in service, {gate.waiting} queued, {gate.service_time_s * 1000:.0f} ms per request"
            await overloaded_response(request_id_of(scope), state)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            gate.leave(granted_at)
