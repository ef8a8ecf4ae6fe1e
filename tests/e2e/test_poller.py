"""The stream poller's event source mapping rules, with a scripted function in place of the analyzer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from fraud_local.poller import STREAM_FILTER, Delivery, MappingSettings, StreamPoller, lambda_record, matches

STREAM = "arn:aws:dynamodb:us-east-2:123456789012:table/transactions-local/stream/2026-11-21T00:00:00.000"


def record(sequence: int, *, event: str = "INSERT", status: str | None = "RECEIVED") -> dict[str, Any]:
    image: dict[str, Any] = {"transactionId": {"S": f"tx-{sequence}"}, "timestamp": {"N": "1"}}
    if status is not None:
        image["status"] = {"S": status}
    return {
        "eventID": f"e{sequence}",
        "eventName": event,
        "dynamodb": {
            "Keys": {"transactionId": image["transactionId"], "timestamp": image["timestamp"]},
            "NewImage": image,
            "SequenceNumber": str(sequence),
            "ApproximateCreationDateTime": datetime(2026, 11, 21, 10, 0, tzinfo=UTC),
        },
    }


class Function:
    """Answers each invocation with ``answer(batch)``; records the sequence numbers it saw."""

    def __init__(self, answer: Callable[[list[str]], Any]) -> None:
        self.answer = answer
        self.calls: list[list[str]] = []

    def __call__(self, event: dict[str, Any]) -> Any:
        batch = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        self.calls.append(batch)
        return self.answer(batch)


def delivery(function: Function, failures: list[dict[str, Any]]) -> Delivery:
    settings = MappingSettings(max_retries=3, retry_backoff_s=0.0)
    return Delivery(function, failures.append, STREAM, "shard-1", "arn:aws:lambda:::function:analyzer", settings)


def batch(*sequences: int) -> list[dict[str, Any]]:
    return [lambda_record(record(s), STREAM) for s in sequences]


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (record(1), True),
        (record(2, event="MODIFY"), False),
        (record(3, status="SCORED"), False),
        (record(4, status=None), False),  # an idempotency marker has no status
    ],
)
def test_stream_filter_keeps_only_new_received_transactions(raw: dict[str, Any], kept: bool) -> None:
    assert matches(STREAM_FILTER, raw) is kept


def test_lambda_record_has_the_source_arn_and_epoch_seconds() -> None:
    converted = lambda_record(record(7), STREAM)
    assert converted["eventSourceARN"] == STREAM and converted["eventSource"] == "aws:dynamodb"
    assert converted["dynamodb"]["ApproximateCreationDateTime"] == 1795255200


def test_delivery_retries_from_the_first_failed_record_then_sends_it_to_the_failure_queue() -> None:
    # GIVEN a function that always reports record 2 as failed
    function = Function(lambda seqs: {"batchItemFailures": [{"itemIdentifier": "2"}] if "2" in seqs else []})
    failures: list[dict[str, Any]] = []
    # WHEN a batch of three is delivered
    delivery(function, failures).deliver(batch(1, 2, 3))
    # THEN record 1 is done at once, 2 and 3 are retried 3 times, then given up with coordinates
    assert function.calls == [["1", "2", "3"]] + [["2", "3"]] * 3
    [message] = failures
    info = message["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == ("2", "3", 2)
    assert info["streamArn"] == STREAM and info["shardId"] == "shard-1"
    assert message["requestContext"]["approximateInvokeCount"] == 4
    assert [r["keys"]["transactionId"]["S"] for r in message["records"]] == ["tx-2", "tx-3"]
    assert "NewImage" not in str(message)  # coordinates and keys only


def test_delivery_recovers_when_a_retry_succeeds() -> None:
    attempts: list[int] = []

    def flaky(seqs: list[str]) -> dict[str, Any]:
        attempts.append(1)
        return {"batchItemFailures": [{"itemIdentifier": seqs[0]}]} if len(attempts) == 1 else {}

    function = Function(flaky)
    failures: list[dict[str, Any]] = []
    delivery(function, failures).deliver(batch(1, 2))
    assert function.calls == [["1", "2"], ["1", "2"]] and failures == []


def test_delivery_function_error_bisects_the_batch_so_only_the_poison_record_fails() -> None:
    # GIVEN a function that fails as a whole whenever record 3 is in its batch
    def answer(seqs: list[str]) -> dict[str, Any]:
        if "3" in seqs:
            raise RuntimeError("function error")
        return {}

    function = Function(answer)
    failures: list[dict[str, Any]] = []
    target = delivery(function, failures)
    # WHEN four records are delivered
    target.deliver(batch(1, 2, 3, 4))
    # THEN halves are tried until record 3 is alone; only it ends in the failure queue
    assert function.calls[:4] == [["1", "2", "3", "4"], ["1", "2"], ["3", "4"], ["3"]]
    assert function.calls.count(["3"]) == 4 and function.calls[-1] == ["4"]
    assert [[r["sequenceNumber"] for r in m["records"]] for m in failures] == [["3"]]
    assert target.delivered == 3 and target.failed == 1


class FakeStreams:
    """One shard; the first read fails, the second brings five records, then nothing more."""

    def __init__(self) -> None:
        self.reads = 0

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-1"}]}}

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["ShardIteratorType"] == "TRIM_HORIZON"
        return {"ShardIterator": "it-0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        self.reads += 1
        if self.reads == 1:
            raise ConnectionError("moto restarting")
        raws = [record(1), record(2, event="MODIFY"), record(3), record(4, status=None), record(5)]
        return {"Records": raws if self.reads == 2 else [], "NextShardIterator": f"it-{self.reads}"}


def test_stream_poller_batches_the_filtered_records_and_survives_a_failed_read() -> None:
    # GIVEN a stream whose first read fails, then holds new transactions, a MODIFY and a marker
    function = Function(lambda _: {})
    failures: list[dict[str, Any]] = []
    settings = MappingSettings(batch_size=2, batching_window_s=0.05, poll_interval_s=0.01)
    poller = StreamPoller(FakeStreams(), STREAM, function, failures.append, "arn:function", settings)
    # WHEN it polls until the three new transactions have been delivered
    worker = threading.Thread(target=poller.run)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while sum(map(len, function.calls)) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        poller.stop()
        worker.join(5)
    # THEN a full batch went at once and the rest after the batching window, filtered as deployed
    assert function.calls == [["1", "3"], ["5"]]
    assert failures == [] and not worker.is_alive()
