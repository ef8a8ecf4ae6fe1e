"""Admission under overload: a concurrency limit sized to the database pool, a short FIFO queue
whose wait is bounded by a time budget, and a refusal decided at arrival for everything else.

A worker serves at most ``limit`` requests at once (``DB_POOL_MAX_SIZE``: more could only wait
for a connection). Requests beyond it wait in arrival order for a free slot, at most
``queue_max`` of them (``DB_POOL_MAX_WAITING``) and at most ``queue_timeout_s``
(``ADMISSION_QUEUE_TIMEOUT_MS``), so an admitted request still finishes within its latency
budget. A request is refused at arrival when the queue is full or when its expected wait, from
the measured time a slot is held, exceeds that budget: it would only wait and then fail, and a
waiting request costs the same slot-time as a served one. The expected wait adapts by itself to
the CPU the worker actually gets and to the database's speed; the queue's length cap bounds
memory if the measurement is off. A refusal is answered ``refusal_delay_s`` after it is decided
(see ``_refuse``).

Why not event-loop lag (the previous signal): under a retry storm, the refusals themselves kept the
loop behind, so every request was refused and goodput collapsed (issue 13: 3 requests/s at 64
connections). What is measured here is the admitted work; refusals slow it down only by their own
CPU, which the refusal delay bounds.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

SERVICE_TIME_WEIGHT = 0.1
"""Weight of the latest slot-holding time in the moving average: a change of speed (a slow database,
a CPU-starved task) shows after some ten requests, one slow request barely moves it."""

QUEUE_FULL = "queue_full"
OVER_BUDGET = "over_budget"
WAITED_TOO_LONG = "waited_too_long"
"""Why a request was refused: the queue was at its cap; its expected wait exceeded the budget (both
at arrival); it waited the whole budget without getting a slot (the expected wait was wrong)."""


class AdmissionGate:
    """A concurrency limit with a time-bounded FIFO queue in front of it (one per worker)."""

    def __init__(
        self,
        limit: int,
        queue_max: int,
        queue_timeout_s: float,
        refusal_delay_s: float,
        on_refused: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.queue_max = queue_max
        self.queue_timeout_s = queue_timeout_s
        self.refusal_delay_s = refusal_delay_s
        self.on_refused = on_refused
        self.clock = clock
        self.active = 0
        self.service_time_s = 0.0
        """Moving average of how long a request holds a slot (0 until the first one finishes: until
        then nothing is refused for its expected wait)."""
        self._waiters: deque[asyncio.Future[bool]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def expected_wait_s(self) -> float:
        """How long a request arriving now would wait for a slot: the queue ahead of it plus itself,
        served ``limit`` at a time."""
        return (len(self._waiters) + 1) * self.service_time_s / self.limit

    async def enter(self) -> float | None:
        """Admit or refuse a request. Returns the moment its slot was granted (pass it to ``leave``),
        or None: refused (reported to ``on_refused``, answered after ``refusal_delay_s``), and nothing
        is held."""
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return self.clock()
        if len(self._waiters) >= self.queue_max:
            await self._refuse(QUEUE_FULL)
            return None
        if self.expected_wait_s() > self.queue_timeout_s:
            await self._refuse(OVER_BUDGET)
            return None
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        expiry = loop.call_later(self.queue_timeout_s, self._expire, waiter)
        try:
            granted = await waiter
        except asyncio.CancelledError:
            # The slot may have been handed over just before the cancellation: pass it on.
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self._release()
            else:
                self._discard(waiter)
            raise
        finally:
            expiry.cancel()
        if not granted:
            self.on_refused(WAITED_TOO_LONG)
            return None
        return self.clock()

    async def _refuse(self, reason: str) -> None:
        self.on_refused(reason)
        # Decided now, answered later: a client that resends a refused request at once (wrk, a
        # naive retry loop) would otherwise turn every spare cycle of the worker into refusals, and
        # the requests being served would get a shrinking share of the CPU. A sleeping refusal
        # holds a timer, no slot and no CPU.
        if self.refusal_delay_s > 0:
            await asyncio.sleep(self.refusal_delay_s)

    def leave(self, granted_at: float) -> None:
        """Release the slot granted at ``granted_at``."""
        held = self.clock() - granted_at
        if self.service_time_s == 0.0:
            self.service_time_s = held
        else:
            self.service_time_s += SERVICE_TIME_WEIGHT * (held - self.service_time_s)
        self._release()

    def _release(self) -> None:
        """The first waiter takes the slot over, or it is freed."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                return
        self.active -= 1

    def _expire(self, waiter: asyncio.Future[bool]) -> None:
        if not waiter.done():
            self._discard(waiter)
            waiter.set_result(False)

    def _discard(self, waiter: asyncio.Future[bool]) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)
