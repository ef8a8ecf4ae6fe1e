"""Dependencies of the route handlers. ``async`` on purpose: they only read app state, and a sync
dependency would cost every request an extra hop through the thread pool."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from fraud_api.app.core.logging import request_id_var
from fraud_api.app.runtime import Runtime
from fraud_api.app.scoring import ScoringService


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def service_of(request: Request) -> ScoringService:
    runtime: Runtime = request.app.state.runtime
    return runtime.service


async def get_service(request: Request) -> ScoringService:
    return service_of(request)


async def get_request_id() -> str | None:
    return request_id_var.get()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ServiceDep = Annotated[ScoringService, Depends(get_service)]
RequestIdDep = Annotated[str | None, Depends(get_request_id)]
