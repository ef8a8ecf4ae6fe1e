"""A stand-in for one warm Lambda execution environment: a context object and one call at a time.

The handlers' Powertools logger, metrics and batch processor are process-wide singletons that
are not thread-safe, and in AWS an execution environment never runs two events at once either,
so invocations are serialised here. Each child process of local mode hosts one function, so
functions never share these singletons.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fraud_local.config import MOTO_ACCOUNT_ID, REGION

Handler = Callable[[dict[str, Any], Any], Any]
TIMEOUT_MS = 30_000


@dataclass
class LambdaContext:
    """The attributes of ``awslambdaric``'s context that Powertools and the handlers read."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    deadline_ms: float = field(default_factory=lambda: time.time() * 1000 + TIMEOUT_MS)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{MOTO_ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.deadline_ms - time.time() * 1000))


class FunctionRuntime:
    """Invokes ``handler`` like Lambda does: a fresh context per event, one event at a time."""

    def __init__(self, function_name: str, handler: Handler) -> None:
        self.function_name = function_name
        self._handler = handler
        self._lock = threading.Lock()

    def invoke(self, event: Mapping[str, Any]) -> Any:
        with self._lock:
            return self._handler(dict(event), LambdaContext(self.function_name))
