"""Admission control's gate: a concurrency limit, a FIFO queue bounded in length and in expected wait."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine, MutableMapping
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest

from fraud_api.app.api import errors
from fraud_api.app.api.admission import AdmissionMiddleware
from fraud_api.app.core.overload import OVER_BUDGET, QUEUE_FULL, WAITED_TOO_LONG, AdmissionGate


class Clock:
    """A clock the test moves: how long a slot was held is whatever the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


_T = TypeVar("_T")


def _run(scenario: Coroutine[Any, Any, _T]) -> _T:
    """Run a scenario with a hang guard: a broken gate that never wakes a waiter fails the test
    instead of hanging it (the scenarios themselves take milliseconds; this is no timing check)."""
    return asyncio.run(asyncio.wait_for(scenario, timeout=10.0))


def _gate(
    limit: int, queue_max: int, queue_timeout_s: float, clock: Clock | None = None
) -> tuple[AdmissionGate, list[str]]:
    refused: list[str] = []
    return AdmissionGate(limit, queue_max, queue_timeout_s, 0.0, refused.append, clock or Clock()), refused


async def _hold(gate: AdmissionGate, clock: Clock, seconds: float) -> None:
    """One request that holds a slot ``seconds`` by the test's clock (what the gate measures)."""
    granted = await gate.enter()
    assert granted is not None
    clock.now += seconds
    gate.leave(granted)


def test_overload_gate_admits_up_to_the_limit_then_hands_slots_to_waiters_in_arrival_order() -> None:
    async def scenario() -> tuple[list[str], int, int]:
        gate, refused = _gate(limit=2, queue_max=10, queue_timeout_s=30.0)
        # GIVEN two requests holding both slots
        first, second = await gate.enter(), await gate.enter()
        assert first is not None and second is not None
        # WHEN three more arrive, in order
        order: list[str] = []

        async def request(name: str) -> None:
            granted = await gate.enter()
            assert granted is not None
            order.append(name)
            gate.leave(granted)

        waiting = [asyncio.create_task(request(name)) for name in ("c", "d", "e")]
        await asyncio.sleep(0)
        queued = gate.waiting
        # THEN they wait, and take the slots in arrival order as the holders leave
        gate.leave(first)
        gate.leave(second)
        await asyncio.gather(*waiting)
        assert refused == []
        return order, queued, gate.active

    order, queued, active = _run(scenario())
    assert queued == 3
    assert order == ["c", "d", "e"]
    assert active == 0  # every slot came back


def test_overload_gate_refuses_at_arrival_a_request_that_cannot_start_within_the_budget() -> None:
    async def scenario() -> tuple[list[str], int]:
        clock = Clock()
        gate, refused = _gate(limit=1, queue_max=10, queue_timeout_s=0.100, clock=clock)
        # GIVEN requests that hold the slot 60 ms each
        await _hold(gate, clock, 0.060)
        holder = await gate.enter()
        assert holder is not None
        # WHEN one request arrives (expected wait 60 ms), then another (120 ms)
        queued = asyncio.create_task(gate.enter())
        await asyncio.sleep(0)
        late = await gate.enter()
        # THEN the first waits and the second is refused at once, for its expected wait
        assert late is None
        assert not queued.done()
        gate.leave(holder)
        assert await queued is not None
        return refused, gate.waiting

    refused, waiting = _run(scenario())
    assert refused == [OVER_BUDGET]
    assert waiting == 0


def test_overload_gate_refuses_beyond_the_queue_cap_and_without_a_queue() -> None:
    async def scenario(queue_max: int) -> tuple[list[str], int]:
        gate, refused = _gate(limit=1, queue_max=queue_max, queue_timeout_s=30.0)
        holder = await gate.enter()
        assert holder is not None
        waiters = [asyncio.create_task(gate.enter()) for _ in range(queue_max)]
        await asyncio.sleep(0)
        # WHEN one more arrives than the slot and the queue hold THEN it is refused at once
        assert await gate.enter() is None
        for waiter in waiters:
            gate.leave(holder)
            granted = await waiter
            assert granted is not None
            holder = granted
        gate.leave(holder)
        return refused, gate.active

    assert _run(scenario(queue_max=2)) == ([QUEUE_FULL], 0)
    assert _run(scenario(queue_max=0)) == ([QUEUE_FULL], 0)


def test_overload_gate_refuses_a_waiter_after_the_budget_and_keeps_its_accounts() -> None:
    async def scenario() -> tuple[float | None, list[str], int, float | None]:
        gate, refused = _gate(limit=1, queue_max=10, queue_timeout_s=0.05)
        holder = await gate.enter()
        assert holder is not None
        # GIVEN a holder that never leaves WHEN a request waits THEN it is refused at the budget
        waited = await gate.enter()
        # AND it no longer counts as waiting (it would take a place in the queue and in others'
        # expected wait), and once the holder leaves, a new request gets the slot at once
        waiting = gate.waiting
        gate.leave(holder)
        after = await gate.enter()
        return waited, refused, waiting, after

    waited, refused, waiting, after = _run(scenario())
    assert waited is None
    assert refused == [WAITED_TOO_LONG]
    assert waiting == 0
    assert after is not None


@pytest.mark.parametrize("granted_before_cancel", [False, True])
def test_overload_gate_a_cancelled_waiter_leaks_no_slot(granted_before_cancel: bool) -> None:
    async def scenario() -> tuple[int, int]:
        gate, _ = _gate(limit=1, queue_max=10, queue_timeout_s=30.0)
        holder = await gate.enter()
        assert holder is not None
        waiter = asyncio.create_task(gate.enter())
        await asyncio.sleep(0)
        if granted_before_cancel:
            gate.leave(holder)  # the slot is handed to the waiter, which is cancelled before it runs
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        if not granted_before_cancel:
            gate.leave(holder)
        return gate.active, gate.waiting

    assert _run(scenario()) == (0, 0)


def test_overload_gate_answers_a_refusal_later_without_holding_anything_meanwhile() -> None:
    async def scenario() -> tuple[list[str], bool, float | None, float | None]:
        refused: list[str] = []
        gate = AdmissionGate(1, 0, 30.0, 0.05, refused.append, Clock())
        holder = await gate.enter()
        assert holder is not None
        # GIVEN a request refused (no queue) while the slot is held
        refusal = asyncio.create_task(gate.enter())
        await asyncio.sleep(0)
        # THEN it is counted at once but not answered yet (a client resending at once is paced)
        answered_at_once = refusal.done()
        # AND the pending refusal holds nothing: once the holder leaves, the next request gets the slot
        gate.leave(holder)
        following = await gate.enter()
        return refused, answered_at_once, following, await refusal

    refused, answered_at_once, following, answer = _run(scenario())
    assert refused == [QUEUE_FULL]
    assert not answered_at_once
    assert following is not None
    assert answer is None


def test_overload_gate_budget_counts_the_queue_ahead_served_limit_at_a_time() -> None:
    async def scenario() -> tuple[list[str], int]:
        clock = Clock()
        # GIVEN two slots whose requests hold them 125 ms (binary-exact figures: the comparison
        # below is at its boundary), and a budget of 125 ms
        gate, refused = _gate(limit=2, queue_max=10, queue_timeout_s=0.125, clock=clock)
        await _hold(gate, clock, 0.125)
        holders = [await gate.enter(), await gate.enter()]
        # WHEN three requests arrive: expected waits 62.5 ms, 125 ms (exactly the budget), 187.5 ms
        waiters = [asyncio.create_task(gate.enter()) for _ in range(2)]
        await asyncio.sleep(0)
        third = await gate.enter()
        # THEN the first two wait and only the third is refused
        assert third is None
        waiting = gate.waiting
        for holder in holders:
            assert holder is not None
            gate.leave(holder)
        for waiter in waiters:
            granted = await waiter
            assert granted is not None
            gate.leave(granted)
        return refused, waiting

    assert _run(scenario()) == ([OVER_BUDGET], 2)


def test_overload_gate_slot_time_is_a_moving_average_weighted_one_tenth_to_the_latest() -> None:
    clock = Clock()
    gate, _ = _gate(limit=1, queue_max=10, queue_timeout_s=30.0, clock=clock)

    # The first request sets the average; the next moves it a tenth of the way: 0.100 + (0.200 - 0.100) / 10
    _run(_hold(gate, clock, 0.100))
    assert gate.service_time_s == pytest.approx(0.100)
    _run(_hold(gate, clock, 0.200))
    assert gate.service_time_s == pytest.approx(0.110)


def test_overload_gate_a_cancelled_waiter_leaves_the_queue_at_once() -> None:
    async def scenario() -> int:
        gate, _ = _gate(limit=1, queue_max=10, queue_timeout_s=30.0)
        holder = await gate.enter()
        assert holder is not None
        waiter = asyncio.create_task(gate.enter())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        # the client went away: it must not count in later arrivals' expected wait or the queue cap
        return gate.waiting

    assert _run(scenario()) == 0


def test_overload_refusal_warning_states_slots_in_use_queue_and_slot_time(monkeypatch, caplog) -> None:
    # GIVEN a gate whose one slot is held, with no queue, requests holding a slot 750 ms
    monkeypatch.setattr(errors, "_sampled", errors._Sampled())  # no warning folded by an earlier test
    gate, _ = _gate(limit=1, queue_max=0, queue_timeout_s=30.0)
    gate.service_time_s = 0.75
    scope = {
        "type": "http",
        "path": "/api/v1/score",
        "headers": [(b"x-request-id", b"req-overload-1")],
        "app": SimpleNamespace(state=SimpleNamespace(runtime=SimpleNamespace(admission=gate))),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("a refusal reads nothing of the request")

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    async def never_called(*_: Any) -> None:
        raise AssertionError("a refused request never reaches the application")

    async def scenario() -> None:
        assert await gate.enter() is not None
        await AdmissionMiddleware(never_called)(scope, receive, send)

    # WHEN a request arrives
    with caplog.at_level(logging.WARNING, logger=errors.logger.name):
        _run(scenario())
    # THEN it is a 503 naming its request id, and the operator's line says why
    assert sent[0]["status"] == 503
    assert json.loads(sent[1]["body"])["requestId"] == "req-overload-1"
    [record] = [r for r in caplog.records if r.getMessage() == "overloaded"]
    assert record.error == "1 in service, 0 queued, 750 ms per request"
