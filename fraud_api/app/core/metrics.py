"""Decisions per outcome, and overload refusals per reason, as CloudWatch embedded metric format
(EMF) lines on stdout.

The dashboard's "fraud decisions per minute by outcome" sums the same metric (`Decisions`, with a
`Decision` dimension, namespace `FraudDetection`) from the analyzer Lambda and from here. The
awslogs driver ships stdout to CloudWatch Logs, which turns EMF lines into metrics: no agent,
no API call on the request path. Counts are aggregated per worker and written once a minute (one
line per outcome), not per request. Refusals by admission control are the `Refused` metric (same
namespace, dimensions `service` and `Reason`).

The line is written directly, not through the JSON log formatter: EMF needs `_aws` at the top
level and an epoch-millisecond timestamp, which the log redaction would take for a card number.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from typing import TextIO

from fraud_common.card import luhn_valid
from fraud_common.env import METRIC_SHADOW_FAILURES, METRICS_NAMESPACE

SERVICE = "fraud-api"
FLUSH_INTERVAL_S = 60.0


def log_safe_epoch_ms(ms: int) -> int:
    """Epoch milliseconds, moved by 1 ms when they would pass the Luhn check: a 13-digit number
    that looks like a card number must never appear in a log (the PAN sweeps and CloudWatch's
    data protection would flag or mask it). Changing the last digit by one always breaks Luhn."""
    return ms + 1 if luhn_valid(str(ms)) else ms


class DecisionMetrics:
    """Counts decisions, and requests refused by admission control; `flush()` writes and resets them."""

    def __init__(self, stream: TextIO | None = None, namespace: str = METRICS_NAMESPACE) -> None:
        self._stream = stream
        self._namespace = namespace
        self._counts: Counter[str] = Counter()
        self._refused: Counter[str] = Counter()
        self._shadow_failed: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    def record(self, decision: str) -> None:
        self._counts[decision] += 1

    def record_refusal(self, reason: str) -> None:
        """An overload refusal (``core/overload.py`` names the reasons): counted here instead of a
        log line each, which would cost CPU exactly when the worker has none to spare."""
        self._refused[reason] += 1

    def record_shadow_failure(self, shadow_model_version: str) -> None:
        """A shadow score that raised (the live decision was unaffected)."""
        self._shadow_failed[shadow_model_version] += 1

    def lines(self, now_ms: int) -> list[str]:
        """The EMF lines for the counts so far (one per decision outcome, one per refusal reason, one
        per failing shadow version); resets the counts."""
        counts, self._counts = self._counts, Counter()
        refused, self._refused = self._refused, Counter()
        shadow_failed, self._shadow_failed = self._shadow_failed, Counter()
        return (
            [self._line(now_ms, "Decision", decision, "Decisions", count) for decision, count in sorted(counts.items())]
            + [self._line(now_ms, "Reason", reason, "Refused", count) for reason, count in sorted(refused.items())]
            + [
                self._line(now_ms, "ShadowModelVersion", version, METRIC_SHADOW_FAILURES, count)
                for version, count in sorted(shadow_failed.items())
            ]
        )

    def _line(self, now_ms: int, dimension: str, value: str, metric: str, count: int) -> str:
        return json.dumps(
            {
                "_aws": {
                    "Timestamp": now_ms,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": self._namespace,
                            "Dimensions": [["service", dimension]],
                            "Metrics": [{"Name": metric, "Unit": "Count"}],
                        }
                    ],
                },
                "service": SERVICE,
                dimension: value,
                metric: count,
            },
            separators=(",", ":"),
        )

    def flush(self) -> None:
        stream = self._stream or sys.stdout
        for line in self.lines(log_safe_epoch_ms(int(time.time() * 1000))):
            stream.write(line + "\n")
        stream.flush()

    async def start(self, interval_s: float = FLUSH_INTERVAL_S) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(interval_s)
                self.flush()

        self._task = asyncio.create_task(loop(), name="fraud-api-metrics")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.flush()  # what the last minute counted is not lost at shutdown
