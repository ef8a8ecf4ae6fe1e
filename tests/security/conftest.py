"""Security tier: hostile input against fraud-api and the local gateway, on real servers.

One embedded PostgreSQL (Unix socket), fraud-api under uvicorn and the gateway in front of it,
each on 127.0.0.1 and a free port, started once for the tier and stopped at its end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest

from fraud_api.app.main import create_app
from fraud_api.embedded_db import EmbeddedPostgres
from fraud_local.gateway import Gateway
from tests.support.api_app import create_database, make_settings, write_test_model
from tests.support.pan_cases import holds
from tests.support.raw_http import serve

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
    sent_pans: set[str] = field(default_factory=set)
    """The digits of every card number the tier sent; swept for after the last test."""


def _sweep(pg: EmbeddedPostgres, database_uri: str, pans: set[str]) -> list[str]:
    """Where a sent card number sits in clear: any row of any table, or any byte of the server's
    files (heap, WAL, logs). The oracle is tests/support/pan_cases, independent of fraud_common.card."""
    with psycopg.connect(database_uri, autocommit=True) as conn:
        conn.execute(b"CHECKPOINT")  # heap pages written to their files, not only to the WAL
        tables = conn.execute(
            b"SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
            b"WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        rows = "\n".join(
            str(row[0]) for (table,) in tables for row in conn.execute(f"SELECT t::text FROM {table} t".encode())
        )
    files = [path.read_bytes() for path in pg.data_dir.rglob("*") if path.is_file()]
    found = []
    for pan in sorted(pans):
        if holds(rows, pan):
            found.append(f"a database row holds the card number ending {pan[-4:]}")
        if any(pan.encode() in content for content in files):
            found.append(f"a PostgreSQL file holds the card number ending {pan[-4:]}")
    return found


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
    pg.start()
    try:
        pg.disable_durability()
        database_uri = create_database(pg.uri, "security")
        settings = make_settings(
            database_uri,
            write_test_model(tmp_path_factory.mktemp("model") / "m.json"),
        )
        processor = Processor()
        with serve(create_app(settings)) as api_url, serve(Gateway(API_KEY, processor, api_url).app) as gateway_url:
            openapi = httpx.get(f"{api_url}/api/openapi.json").json()
            servers = Servers(api_url, gateway_url, openapi, processor)
            yield servers
        # Issue 11's "done when": a sweep after the tier finds no card number it sent in any store.
        assert len(servers.sent_pans) >= 10, "the tier sent too few card numbers to prove anything"
        found = _sweep(pg, database_uri, servers.sent_pans)
        assert not found, found
    finally:
        pg.cleanup()
