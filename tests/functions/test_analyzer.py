"""Analyzer handler: stream batches against moto DynamoDB, partial failures, metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from handler_support import (
    CONFIG,
    MASTERCARD,
    TABLE,
    api_event,
    dump_table,
    find_pans,
    iso,
    pans_in_items,
    stream_record,
    transaction_body,
)

from fraud_common.tables import day_shard
from fraud_scoring import Decision, History, Scorer, ScoreResult, Thresholds
from functions.analyzer import analyze
from functions.analyzer.handler import lambda_handler
from functions.common import items
from functions.common.api_config import api_config
from functions.common.aws import client
from functions.processor.handler import lambda_handler as processor_handler

DAY_MS = 86_400_000


def _store(ctx: Any, **overrides: Any) -> dict[str, Any]:
    """POST through the processor, return the stored item as python values."""
    body = transaction_body(**overrides)
    assert processor_handler(api_event("POST", body), ctx)["statusCode"] == 201
    return _item(body["transactionId"])


def _item(transaction_id: str) -> dict[str, Any]:
    response = client("dynamodb").query(
        TableName=TABLE,
        KeyConditionExpression="transactionId = :id AND #ts > :zero",
        ExpressionAttributeNames={"#ts": "timestamp"},
        ExpressionAttributeValues={":id": {"S": transaction_id}, ":zero": {"N": "0"}},
    )
    return items.deserialize(response["Items"][0])


def _put_history(aws: dict[str, Any], transaction_id: str, timestamp_ms: int, **extra: Any) -> None:
    item = {
        "transactionId": transaction_id,
        "timestamp": timestamp_ms,
        "customerId": "cust-1",
        "terminalId": "term-1",
        "dayShard": day_shard(timestamp_ms, transaction_id),
        "amount": Decimal("20.00"),
        "currency": "EUR",
        "status": "SCORED",
        **extra,
    }
    aws["dynamodb"].put_item(TableName=TABLE, Item=items.serialize(item))


def _batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def test_analyzer_new_transaction_is_scored_and_readable(aws, logs, lambda_context):
    # GIVEN a large transaction stored by the processor
    stored = _store(lambda_context, amount="900.00")
    # WHEN its INSERT reaches the analyzer
    result = lambda_handler(_batch(stream_record(stored, sequence="100")), lambda_context)
    # THEN it is SCORED with decision, reasons, model version and time, and GET shows them
    assert result == {"batchItemFailures": []}
    item = _item("tx-0001")
    assert item["status"] == "SCORED" and item["decision"] == "decline"
    assert item["modelVersion"] == "test-model-1" and item["reasons"]
    assert item["analyzedAt"].endswith("Z") and 0.85 <= item["score"] <= 1
    record = json.loads(processor_handler(api_event("GET", transaction_id="tx-0001"), lambda_context)["body"])
    assert record["decision"] == "decline" and record["status"] == "SCORED"
    assert find_pans(logs.getvalue()) == []
    assert pans_in_items(dump_table(aws["dynamodb"], TABLE)) == []


def test_analyzer_thresholds_come_from_the_secret(aws, lambda_context):
    # GIVEN a mid-range transaction (test model score ~0.6) and stricter thresholds in the secret
    stored = _store(lambda_context, amount="520.00")
    strict = {**CONFIG, "thresholds": {"review": 0.7, "decline": 0.9}}
    aws["secretsmanager"].put_secret_value(SecretId=aws["secret_arn"], SecretString=json.dumps(strict))
    api_config.clear()  # the analyzer runs in its own container: no value cached by the processor
    # WHEN it is analyzed
    lambda_handler(_batch(stream_record(stored, sequence="100")), lambda_context)
    # THEN the secret's thresholds decided (approve below 0.7), not the scorer's defaults
    assert _item("tx-0001")["decision"] == "approve"


class _RecordingScorer:
    def __init__(self, inner: Scorer) -> None:
        self.inner = inner
        self.histories: list[History] = []

    def score(self, transaction: Any, history: History, thresholds: Any = None) -> Any:
        self.histories.append(history)
        return self.inner.score(transaction, history, thresholds)


def test_analyzer_history_comes_from_both_indexes_within_the_window(aws, lambda_context, test_scorer, now_ms):
    # GIVEN earlier transactions: one in the window with a fraud label, one older than the window
    _put_history(aws, "old-1", now_ms - 40 * DAY_MS)
    _put_history(aws, "lab-1", now_ms - 10 * DAY_MS, fraudLabel=True, labelTime=now_ms - 2 * DAY_MS)
    stored = _store(lambda_context, timestamp=iso(now_ms - 1000))
    recorder = _RecordingScorer(test_scorer)
    analyze.set_scorer(recorder)  # type: ignore[arg-type]
    queries: list[dict[str, Any]] = []
    client("dynamodb").meta.events.register(
        "provide-client-params.dynamodb.Query", lambda params, **_: queries.append(params)
    )
    # WHEN the new transaction is analyzed
    lambda_handler(_batch(stream_record(stored, sequence="100")), lambda_context)
    # THEN both history indexes were queried and only in-window items were passed, labels mapped
    assert {q["IndexName"] for q in queries} == {"customer-time", "terminal-time"}
    [history] = recorder.histories
    assert {h.transaction_id for h in history.customer} == {"lab-1", "tx-0001"}
    assert {h.transaction_id for h in history.terminal} == {"lab-1", "tx-0001"}
    labelled = next(h for h in history.terminal if h.transaction_id == "lab-1")
    assert labelled.fraud is True and labelled.label_time == pytest.approx((now_ms - 2 * DAY_MS) / 1000)


def test_analyzer_modify_and_marker_events_are_ignored(aws, lambda_context):
    # GIVEN a MODIFY of a stored transaction and the INSERT of an idempotency marker
    stored = _store(lambda_context)
    marker = {"transactionId": "tx-0001", "timestamp": 0, "itemType": "MARKER", "fingerprint": "f"}
    # WHEN they reach the analyzer
    result = lambda_handler(
        _batch(stream_record(stored, sequence="1", event_name="MODIFY"), stream_record(marker, sequence="2")),
        lambda_context,
    )
    # THEN nothing fails and nothing is scored
    assert result == {"batchItemFailures": []}
    assert _item("tx-0001")["status"] == "RECEIVED"


def test_analyzer_poison_record_fails_alone(aws, logs, lambda_context):
    # GIVEN a batch whose middle record lacks its customer id
    first = _store(lambda_context, transactionId="tx-a", amount="10.00")
    poison = {**_store(lambda_context, transactionId="tx-b", cardNumber=MASTERCARD)}
    del poison["customerId"]
    last = _store(lambda_context, transactionId="tx-c", amount="900.00")
    batch = _batch(
        stream_record(first, sequence="101"), stream_record(poison, sequence="102"), stream_record(last, sequence="103")
    )
    # WHEN the batch is processed
    result = lambda_handler(batch, lambda_context)
    # THEN only the poison record is reported; the others are scored; the failure is replayable
    assert result == {"batchItemFailures": [{"itemIdentifier": "102"}]}
    assert _item("tx-a")["decision"] == "approve" and _item("tx-c")["decision"] == "decline"
    assert _item("tx-b")["status"] == "RECEIVED"
    failure = next(json.loads(x) for x in logs.getvalue().splitlines() if '"record failed"' in x)
    assert failure["transaction_id"] == "tx-b" and failure["sequence_number"] == "102"
    assert failure["poison"] is True and failure["reason"] == "PoisonRecord"
    assert find_pans(logs.getvalue()) == []


def test_analyzer_redelivered_record_is_not_rescored(aws, logs, lambda_context):
    # GIVEN a transaction already analyzed once
    stored = _store(lambda_context)
    lambda_handler(_batch(stream_record(stored, sequence="100")), lambda_context)
    first = _item("tx-0001")
    # WHEN the same stream record is delivered again (retry after a later record failed)
    result = lambda_handler(_batch(stream_record(stored, sequence="100")), lambda_context)
    # THEN it succeeds without touching the recorded decision
    assert result == {"batchItemFailures": []}
    assert _item("tx-0001")["analyzedAt"] == first["analyzedAt"]
    assert "already scored" in logs.getvalue()


def test_analyzer_unreadable_secret_fails_instead_of_guessing(aws, lambda_context, monkeypatch):
    # GIVEN thresholds that cannot be read
    stored = _store(lambda_context)
    monkeypatch.setenv("API_CONFIG_SECRET_ARN", "arn:aws:secretsmanager:us-east-2:123456789012:secret:gone")
    api_config.clear()
    # WHEN the record is processed
    with pytest.raises(BatchProcessingError):
        lambda_handler(_batch(stream_record(stored, sequence="100")), lambda_context)
    # THEN the whole batch fails (Lambda retries it) and the transaction is not scored
    assert _item("tx-0001")["status"] == "RECEIVED"


def test_analyzer_emits_decision_and_latency_metrics(aws, lambda_context, capsys):
    # GIVEN one approvable and one declinable transaction
    small = _store(lambda_context, transactionId="tx-s", amount="5.00")
    large = _store(lambda_context, transactionId="tx-l", amount="950.00")
    capsys.readouterr()
    # WHEN they are analyzed
    lambda_handler(_batch(stream_record(small, sequence="1"), stream_record(large, sequence="2")), lambda_context)
    # THEN EMF carries Decisions per outcome (Decision dimension) and the score latency
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    decisions = {b["Decision"]: b["Decisions"] for b in blobs if "Decisions" in b}
    assert decisions == {"approve": [1.0], "decline": [1.0]}
    assert any(len(b.get("ScoreLatency", [])) == 2 for b in blobs)


def test_analyzer_scores_records_read_from_the_real_stream(aws, lambda_context):
    # GIVEN two transactions stored by the processor (their items and markers are in the stream)
    _store(lambda_context, transactionId="tx-1", amount="12.00")
    _store(lambda_context, transactionId="tx-2", amount="990.00")
    arn = aws["dynamodb"].describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    streams = client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    # WHEN the stream records (markers included, as if unfiltered) are handed to the analyzer
    result = lambda_handler({"Records": records}, lambda_context)
    # THEN both transactions are scored and the markers are skipped
    assert result == {"batchItemFailures": []}
    assert len(records) == 4
    assert _item("tx-1")["decision"] == "approve" and _item("tx-2")["decision"] == "decline"
    assert datetime.fromisoformat(_item("tx-2")["analyzedAt"]).tzinfo == UTC


def test_analyzer_records_the_score_to_six_decimals_and_the_given_time(aws, lambda_context):
    # GIVEN a stored transaction and a decision whose score has more than six decimals
    stored = _store(lambda_context)
    result = ScoreResult(
        score=0.123456789,
        decision=Decision.REVIEW,
        reasons=("amount unusual",),
        model_version="model-7",
        thresholds=Thresholds(review=0.1, decline=0.9),
        rule_ids=("r-1",),
    )
    # WHEN the decision is recorded at a given time
    recorded = analyze.record_decision("tx-0001", stored["timestamp"], result, now=1_763_720_100.123)
    # THEN the item holds the rounded score and exactly that time
    item = _item("tx-0001")
    assert recorded is True
    assert (item["score"], item["analyzedAt"]) == (Decimal("0.123457"), "2025-11-21T10:15:00.123Z")
    assert (item["decision"], item["reasons"], item["ruleIds"], item["modelVersion"]) == (
        "review",
        ["amount unusual"],
        ["r-1"],
        "model-7",
    )


def test_analyzer_failure_log_gives_the_transaction_time_in_iso(aws, logs, lambda_context):
    # GIVEN a record that lacks its customer id, at a known time
    image = {"transactionId": "tx-p", "timestamp": 1_763_720_100_123, "status": "RECEIVED", "amount": 5}
    # WHEN it fails (alone in its batch: the whole batch fails)
    with pytest.raises(BatchProcessingError):
        lambda_handler(_batch(stream_record(image, sequence="7")), lambda_context)
    # THEN the failure line carries the time as ISO-8601 (never the 13-digit epoch, a Luhn look-alike)
    failure = next(json.loads(x) for x in logs.getvalue().splitlines() if '"record failed"' in x)
    assert failure["transaction_time"] == "2025-11-21T10:15:00.123Z"
