"""boto3 clients, created on first use and reused across warm invocations.

Clients are built lazily so a handler's cold start pays only for the clients it uses, and the
cache can be dropped (``reset_clients``) when tests start a fresh moto mock.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# Standard retry mode with a few attempts: the handlers answer API Gateway within its 29 s
# timeout, and stream / schedule invocations are retried by Lambda itself on failure.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)


@cache
def _session() -> boto3.session.Session:
    # One session per process: it caches the parsed service models, the slow part of a client.
    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    """The process-wide client for ``service`` ("dynamodb", "s3", "secretsmanager")."""
    return _session().client(service, config=_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests: a new moto mock needs new clients); the session stays."""
    client.cache_clear()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` ("" for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
