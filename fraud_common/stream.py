"""How the analyzer consumes the transactions stream, defined once.

The Pulumi event source mapping (components/pipeline.py, with these defaults in
components/config.py) and the local stream poller (fraud_local/poller.py) both read this module,
so local mode delivers exactly what AWS delivers. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

INSERT_FILTER: Mapping[str, Any] = MappingProxyType(
    {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"status": {"S": ["RECEIVED"]}}}}
)
"""Only new transactions wake the analyzer: INSERTs whose status is RECEIVED. Its own SCORED
updates (MODIFY) and the processor's idempotency markers (no status) never do."""

DEFAULT_BATCH_SIZE = 100
DEFAULT_BATCHING_WINDOW_SECONDS = 1
DEFAULT_MAX_RETRIES = 3
"""Retries of a failing batch (bisected on error) before its coordinates go to the failure queue."""
DEFAULT_MAX_RECORD_AGE_SECONDS = 3600
