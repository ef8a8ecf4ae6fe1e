"""fraud-api as the api, e2e and security tiers run it: a deterministic model artifact, settings,
an empty database on the embedded PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg

from fraud_api.app.core.config import Settings
from fraud_scoring.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION, LABEL_DELAY_DAYS

PAN_KEY = "k" * 64
API_CONFIG = {
    "thresholds": {"review": 0.3, "decline": 0.8},
    "signingKey": "s" * 64,
    "panHashKeys": {"1": PAN_KEY},
    "panHashKeyVersion": "1",
}
MODEL_VERSION = "test-amount-tree-1"
LOCAL_SETTINGS: dict[str, Any] = {"ENVIRONMENT": "local", "DATABASE_URL": "postgresql:///x", "API_CONFIG_JSON": "{}"}
"""The least a ``Settings`` needs in local mode, for tests that never reach a database."""


def amount_model_artifact(
    version: str = MODEL_VERSION, leaves: tuple[float, float, float] = (-2.0, 0.0, 3.0)
) -> dict[str, Any]:
    """A one-tree artifact scoring on the amount only, so decisions are predictable: with the
    default leaves, amount <= 500 -> sigmoid(-2) = 0.119 (approve), <= 1000 -> 0.5 (review), else 0.953 (decline) with
    the thresholds above. Other leaves make a second, distinguishable model (the registry tests)."""
    amount = FEATURE_NAMES.index("amount")
    return {
        "format": "fraud-scoring-model",
        "format_version": 1,
        "model_version": version,
        "model_type": "gradient_boosted_trees",
        "objective": "binary_logistic",
        "feature_schema_version": FEATURE_SCHEMA_VERSION,
        "label_delay_days": LABEL_DELAY_DAYS,
        "features": list(FEATURE_NAMES),
        "base_score": 0.0,
        "trees": [
            {
                "feature": [amount, amount],
                "threshold": [500.0, 1000.0],
                "left": [~0, ~1],
                "right": [1, ~2],
                "value": list(leaves),
            }
        ],
        "training": {"note": "test fixture"},
        "metrics": {},
        "created_at": "2026-01-01T00:00:00Z",
    }


def write_test_model(path: Path) -> Path:
    """``amount_model_artifact()`` as a file; it goes through fraud_scoring's real loader and validation."""
    path.write_text(json.dumps(amount_model_artifact()), encoding="utf-8")
    return path


def make_settings(database_url: str, model_path: Path | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "ENVIRONMENT": "local",
        "DATABASE_URL": database_url,
        "DB_SSLMODE": "disable",
        "API_CONFIG_JSON": json.dumps(API_CONFIG),
        "MODEL_PATH": model_path,
        "DB_POOL_MIN_SIZE": 1,
        "DB_POOL_MAX_SIZE": 4,
        # Admission waits and database deadlines of seconds: on shared cores the defaults (100 ms
        # in the admission queue, 50/80/100 ms for the pool, the request, a statement) measure the
        # machine, not overload or an outage. Tests of those take their own values (tests/api/utils.py
        # OUTAGE_DEADLINES, tests/api/test_admission.py's burst).
        "ADMISSION_QUEUE_TIMEOUT_MS": 10_000,
        "DB_POOL_TIMEOUT_MS": 5_000,
        "DB_REQUEST_TIMEOUT_MS": 10_000,
        "DB_STATEMENT_TIMEOUT_MS": 10_000,
    }
    values.update(overrides)
    return Settings(**values)


def create_database(admin_uri: str, name: str) -> str:
    """Create an empty database on the embedded server; return its URI."""
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    return admin_uri.replace("@/postgres?", f"@/{name}?")
