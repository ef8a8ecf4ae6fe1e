"""All API routes: /api (health) and /api/v1 (scoring, feedback, decisions)."""

from __future__ import annotations

from fastapi import APIRouter

from fraud_api.app.api.routes import decisions, feedback, health, score

API_PREFIX = "/api"
API_V1_PREFIX = "/api/v1"

api_router = APIRouter(prefix=API_PREFIX)
api_router.include_router(health.router)

api_v1_router = APIRouter(prefix=API_V1_PREFIX)
api_v1_router.include_router(score.router)
api_v1_router.include_router(feedback.router)
api_v1_router.include_router(decisions.router)
