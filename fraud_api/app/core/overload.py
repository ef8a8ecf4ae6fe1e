"""Load shedding on event-loop lag: refuse new work while a worker is running behind.

When a worker is offered more requests than its CPU share can serve, every request waits in the
event loop's queue, all of them miss their deadline, and the work done for them is wasted: the
service answers nothing in time (a metastable collapse). Measuring how late a 10 ms timer fires
tells how far behind the loop is; above ``OVERLOAD_LAG_MS`` new work is answered 503 at once
(cheap), so the requests already admitted finish in time and goodput stays near capacity. It
adapts by itself to the CPU the worker actually gets (noisy neighbours, CPU credits).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

logger = logging.getLogger(__name__)

SAMPLE_INTERVAL_S = 0.010


class Overloaded(Exception):
    """This worker's event loop is running behind; retry shortly (another task may take it)."""


class LoopLagMonitor:
    def __init__(self, limit_ms: float) -> None:
        self.limit_ms = limit_ms
        self.lag_ms = 0.0
        self.shed = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.limit_ms > 0:
            self._task = asyncio.create_task(self._sample(), name="loop-lag-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _sample(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(SAMPLE_INTERVAL_S)
            self.lag_ms = max(0.0, (time.monotonic() - started - SAMPLE_INTERVAL_S) * 1000.0)

    def admit(self) -> None:
        """Raise ``Overloaded`` while the loop is more than ``limit_ms`` behind."""
        if self.limit_ms > 0 and self.lag_ms > self.limit_ms:
            self.shed += 1
            raise Overloaded(f"event loop {self.lag_ms:.0f} ms behind")
