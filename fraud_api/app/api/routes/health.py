"""GET /api/health (liveness, for the ALB and the container) and GET /api/ready (database)."""

from __future__ import annotations

from fastapi import APIRouter

from fraud_api.app.api.deps import ServiceDep
from fraud_api.app.api.errors import ERROR_RESPONSES
from fraud_api.app.models import HealthPublic

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthPublic)
async def health() -> HealthPublic:
    """The process is alive. Does not touch the database, so a database outage does not make the
    load balancer replace every task (they recover by themselves; see /api/ready)."""
    return HealthPublic(status="ok")


@router.get("/ready", response_model=HealthPublic, responses={503: ERROR_RESPONSES[503]})
async def ready(service: ServiceDep) -> HealthPublic:
    """The schema is migrated and the database answers within the pool timeout."""
    await service.ready()
    return HealthPublic(status="ready")
