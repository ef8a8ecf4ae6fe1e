"""Security tier: hostile input against fraud-api and the local gateway, on real servers.

One embedded PostgreSQL (Unix socket), fraud-api under uvicorn and the gateway in front of it,
each on 127.0.0.1 and a free port, started once for the tier and stopped at its end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fraud_api.app.main import create_app
from fraud_api.embedded_db import EmbeddedPostgres
from fraud_local.gateway import Gateway
from tests.api.utils import create_database, make_settings, write_test_model
from tests.e2e.raw_http import serve

API_KEY = "security-tier-key-0123456789abcdef"


class Processor:
    """The processor Lambda's stand-in: fraud-api's OpenAPI document covers /api/* only."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 400, "headers": {"content-type": "application/json"}, "body": '{"error": "test"}'}


@dataclass(frozen=True)
class Servers:
    api_url: str
    gateway_url: str
    openapi: dict[str, Any]
    processor: Processor


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
    pg.start()
    try:
        pg.disable_durability()
        # Load shedding off: fraud-api, the gateway and Hypothesis share one process (one GIL) here,
        # so the event loop's lag measures the test's own CPU use, not overload; its 503 is a
        # declared answer, but schemathesis rightly counts any 5xx.
        settings = make_settings(
            create_database(pg.uri, "security"),
            write_test_model(tmp_path_factory.mktemp("model") / "m.json"),
            OVERLOAD_LAG_MS=10_000,
        )
        processor = Processor()
        with serve(create_app(settings)) as api_url, serve(Gateway(API_KEY, processor, api_url).app) as gateway_url:
            openapi = httpx.get(f"{api_url}/api/openapi.json").json()
            yield Servers(api_url, gateway_url, openapi, processor)
    finally:
        pg.cleanup()
