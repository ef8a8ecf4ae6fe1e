"""Runs the whole program once per stack file for the session; the tests read the recordings."""

from __future__ import annotations

import pytest

from tests.support.harness import STACKS, ProgramRun, run_program

_RUNS: dict[str, ProgramRun] = {}


def program(stack: str) -> ProgramRun:
    if stack not in _RUNS:
        _RUNS[stack] = run_program(stack)
    return _RUNS[stack]


@pytest.fixture(params=STACKS)
def run(request: pytest.FixtureRequest) -> ProgramRun:
    """The recorded program of each stack in turn."""
    return program(request.param)


@pytest.fixture
def dev() -> ProgramRun:
    return program("dev")


@pytest.fixture
def prod() -> ProgramRun:
    return program("prod")
