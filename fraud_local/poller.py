"""The stream poller: what the deployed event source mapping does for the analyzer, done locally.

It reads the table's stream (DynamoDB Streams API on moto), keeps the records the mapping's
filter keeps (new transactions: ``INSERT`` with ``NewImage.status = RECEIVED``), groups them in
batches (size and batching window as deployed), turns them into Lambda DynamoDB-stream events and
invokes the real analyzer handler. A batch's ``batchItemFailures`` are retried from the first
failed record, a function error bisects the batch, and when the retries are spent the remaining
records go to the failure queue (the SQS on-failure destination) with their stream coordinates,
so an operator can find and replay them. Records of one shard are delivered in order.

Run as a child of local mode: ``python -m fraud_local.poller`` with the analyzer's variables.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fraud_common import stream
from fraud_local.config import REGION

logger = logging.getLogger("fraud_local.poller")

STREAM_FILTER: Mapping[str, Any] = stream.INSERT_FILTER
"""The event source mapping's filter pattern, shared with ``components/pipeline.py``."""


@dataclass(frozen=True)
class MappingSettings:
    """The deployed mapping's defaults (``fraud_common.stream``, also the stack config's defaults);
    bisect on function error is on."""

    batch_size: int = stream.DEFAULT_BATCH_SIZE
    batching_window_s: float = stream.DEFAULT_BATCHING_WINDOW_SECONDS
    max_retries: int = stream.DEFAULT_MAX_RETRIES
    poll_interval_s: float = 0.25
    """Lambda polls each shard about four times a second."""
    retry_backoff_s: float = 0.2


def matches(pattern: Mapping[str, Any], value: Any) -> bool:
    """The subset of event-filter patterns the mapping uses: nested objects of allowed values."""
    if not isinstance(value, Mapping):
        return False
    for key, expected in pattern.items():
        if isinstance(expected, Mapping):
            if not matches(expected, value.get(key)):
                return False
        elif value.get(key) not in expected:
            return False
    return True


def lambda_record(raw: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A ``GetRecords`` record as Lambda hands it to a function (event source ARN, epoch times)."""
    dynamodb = dict(raw.get("dynamodb") or {})
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": raw.get("eventID"),
        "eventName": raw.get("eventName"),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


Invoke = Callable[[dict[str, Any]], Any]
SendFailure = Callable[[dict[str, Any]], None]


@dataclass
class Delivery:
    """Delivers one shard's batches to the function with the mapping's retry rules."""

    invoke: Invoke
    send_failure: SendFailure
    stream_arn: str
    shard_id: str
    function_arn: str
    settings: MappingSettings = field(default_factory=MappingSettings)
    delivered: int = 0
    failed: int = 0

    def deliver(self, batch: Sequence[dict[str, Any]]) -> None:
        records = list(batch)
        attempts = 0
        while records:
            attempts += 1
            failed_from, function_error = self._invoke(records)
            if failed_from is None:
                self.delivered += len(records)
                return
            self.delivered += failed_from
            records = records[failed_from:]
            if function_error and len(records) > 1:
                # Bisect on function error: each half is retried on its own.
                middle = len(records) // 2
                self.deliver(records[:middle])
                self.deliver(records[middle:])
                return
            if attempts > self.settings.max_retries:
                self._give_up(records, attempts)
                return
            time.sleep(min(self.settings.retry_backoff_s * 2 ** (attempts - 1), 2.0))

    def _invoke(self, records: list[dict[str, Any]]) -> tuple[int | None, bool]:
        """(index of the first record to retry or None, whether the function itself failed)."""
        try:
            response = self.invoke({"Records": records})
        except Exception as exc:
            _log("analyzer invocation failed", error=type(exc).__name__, records=len(records))
            return 0, True
        failures = response.get("batchItemFailures") if isinstance(response, Mapping) else None
        failed = {str(f.get("itemIdentifier")) for f in failures or [] if isinstance(f, Mapping)}
        if not failed:
            return None, False
        for index, record in enumerate(records):
            if str(record["dynamodb"].get("SequenceNumber")) in failed:
                return index, False
        # An identifier that names no record of the batch: Lambda retries the whole batch.
        return 0, False

    def _give_up(self, records: list[dict[str, Any]], attempts: int) -> None:
        self.failed += len(records)
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": None},
            "version": "1.0",
            "timestamp": datetime.now(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": first.get("SequenceNumber"),
                "endSequenceNumber": last.get("SequenceNumber"),
                "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateCreationDateTime")),
                "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime")),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
            # Local addition, for replay without reading the stream again: keys only, never images.
            "records": [
                {
                    "eventID": r.get("eventID"),
                    "sequenceNumber": r["dynamodb"].get("SequenceNumber"),
                    "keys": r["dynamodb"].get("Keys"),
                }
                for r in records
            ],
        }
        self.send_failure(message)
        _log(
            "records sent to the failure queue", records=len(records), first_sequence_number=first.get("SequenceNumber")
        )


def _log(message: str, **fields: Any) -> None:
    # One JSON line, like the handler's own Powertools lines in the same log.
    logger.warning(json.dumps({"level": "WARNING", "logger": logger.name, "message": message, **fields}))


def _iso(epoch_s: Any) -> str | None:
    if not isinstance(epoch_s, int | float):
        return None
    return datetime.fromtimestamp(epoch_s, tz=UTC).isoformat().replace("+00:00", "Z")


class StreamPoller:
    """Polls every shard of ``stream_arn`` from its start (TRIM_HORIZON) until ``stop()``.

    The table is created empty by the same start that starts the poller, so the start of the
    stream is exactly where the deployed mapping (created with the table) begins as well.
    """

    def __init__(
        self,
        streams: Any,
        stream_arn: str,
        invoke: Invoke,
        send_failure: SendFailure,
        function_arn: str,
        settings: MappingSettings | None = None,
    ) -> None:
        self._streams = streams
        self._stream_arn = stream_arn
        self._invoke = invoke
        self._send_failure = send_failure
        self._function_arn = function_arn
        self.settings = settings or MappingSettings()
        self._stop = threading.Event()
        self._iterators: dict[str, str | None] = {}
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._first_pending_at: dict[str, float] = {}
        self.deliveries: dict[str, Delivery] = {}

    def stop(self) -> None:
        self._stop.set()

    def run(self, on_ready: Callable[[], None] | None = None) -> None:
        self._discover_shards()
        if on_ready is not None:
            on_ready()
        while not self._stop.is_set():
            try:
                received = sum(self._read(shard) for shard in list(self._iterators))
                for shard in list(self._pending):
                    self._flush_due(shard)
            except Exception as exc:
                # Like the mapping, keep polling through a failed read or send; a batch that was
                # not finished is delivered again (the analyzer skips what it already scored).
                _log("stream polling failed; retrying", error=type(exc).__name__)
                received = 0
            if not received:
                self._stop.wait(self.settings.poll_interval_s)

    def _discover_shards(self) -> None:
        description = self._streams.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]
        for shard in description["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id in self._iterators:
                continue
            self._iterators[shard_id] = self._streams.get_shard_iterator(
                StreamArn=self._stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            self.deliveries[shard_id] = Delivery(
                self._invoke, self._send_failure, self._stream_arn, shard_id, self._function_arn, self.settings
            )

    def _read(self, shard: str) -> int:
        iterator = self._iterators.get(shard)
        if iterator is None:
            return 0
        response = self._streams.get_records(ShardIterator=iterator, Limit=1000)
        self._iterators[shard] = response.get("NextShardIterator")
        if self._iterators[shard] is None:
            self._discover_shards()  # the shard closed; its children may have opened
        kept = [lambda_record(r, self._stream_arn) for r in response.get("Records", []) if matches(STREAM_FILTER, r)]
        if kept:
            pending = self._pending.setdefault(shard, [])
            if not pending:
                self._first_pending_at[shard] = time.monotonic()
            pending.extend(kept)
        return len(response.get("Records", []))

    def _flush_due(self, shard: str) -> None:
        size = self.settings.batch_size
        while (pending := self._pending.get(shard) or []) and (
            len(pending) >= size or time.monotonic() - self._first_pending_at[shard] >= self.settings.batching_window_s
        ):
            self.deliveries[shard].deliver(pending[:size])
            self._pending[shard] = pending[size:]
            self._first_pending_at[shard] = time.monotonic()


def main() -> None:
    """Child entry point: the analyzer's variables are already in the environment."""
    from fraud_local.logs import configure_child_logging

    configure_child_logging()  # before anything logs: redaction on every logger, no raw URLs
    import boto3

    from fraud_local.processes import exit_with_parent, mark_ready, stop_on_signals
    from fraud_local.runtime import FunctionRuntime

    # Imported only now: Powertools reads the function's variables when its singletons are built.
    from functions.analyzer.handler import lambda_handler

    function_arn = os.environ["FRAUD_LOCAL_FUNCTION_ARN"]
    queue_url = os.environ["FRAUD_LOCAL_FAILURE_QUEUE_URL"]
    sqs = boto3.client("sqs")
    function = FunctionRuntime(function_arn.rsplit(":", 1)[-1], lambda_handler)
    poller = StreamPoller(
        boto3.client("dynamodbstreams"),
        os.environ["FRAUD_LOCAL_STREAM_ARN"],
        function.invoke,
        lambda message: sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message)),
        function_arn,
        MappingSettings(batching_window_s=float(os.environ.get("FRAUD_LOCAL_BATCHING_WINDOW_S", "1.0"))),
    )
    stop_on_signals(poller.stop)
    exit_with_parent(poller.stop)
    poller.run(on_ready=mark_ready)


if __name__ == "__main__":
    main()
