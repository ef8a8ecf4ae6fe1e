"""End-to-end tier: local mode started in-process on free ports, in a temporary state folder.

Each module that needs a running system starts one (``running_stack``) and stops it at its end;
every server listens on 127.0.0.1 only, PostgreSQL on a Unix socket.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fraud_local.config import Ports
from fraud_local.stack import LocalStack, StackHandles
from tests.support.api_app import write_test_model

FREE_PORTS = Ports(gateway=0, api=0, aws=0)


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fraud_scoring's loader with a one-tree artifact: amount <= 500 approve, <= 1000 review
    (score 0.5 against the seeded review threshold 0.5), above decline."""
    return write_test_model(tmp_path_factory.mktemp("model") / "model.json")


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory, model_path: Path) -> Iterator[LocalStack]:
    stack = LocalStack(tmp_path_factory.mktemp("state"), FREE_PORTS, model_path=str(model_path))
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def handles(local_stack: LocalStack) -> StackHandles:
    assert local_stack.handles is not None
    return local_stack.handles
