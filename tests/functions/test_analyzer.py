"""Analyzer handler: stream batches against moto DynamoDB, partial failures, metrics."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
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

import fraud_scoring
from fraud_common import env
from fraud_common.tables import CUSTOMER_HISTORY, TERMINAL_HISTORY, day_shard
from fraud_scoring import Decision, History, HistoryItem, Scorer, ScoreResult, Thresholds, Transaction
from fraud_scoring.promote import main as promote_main
from fraud_scoring.registry import MODEL_REFUSED_MESSAGE, S3Store, publish
from functions.analyzer import analyze, history
from functions.analyzer.handler import lambda_handler
from functions.common import items
from functions.common.api_config import api_config
from functions.common.aws import client
from functions.common.observability import metrics
from functions.processor.handler import lambda_handler as processor_handler
from tests.support.api_app import amount_model_artifact

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


def test_analyzer_decline_threshold_comes_from_the_secret(aws, lambda_context):
    # GIVEN a transaction the test model scores 0.9999 and a secret whose decline threshold is 1.0
    # (the scorer's own default, 0.8, would decline it)
    stored = _store(lambda_context, amount="950.00")
    lenient = {**CONFIG, "thresholds": {"review": 0.3, "decline": 1.0}}
    aws["secretsmanager"].put_secret_value(SecretId=aws["secret_arn"], SecretString=json.dumps(lenient))
    api_config.clear()
    # WHEN it is analyzed
    lambda_handler(_batch(stream_record(stored, sequence="100")), lambda_context)
    # THEN it goes to review: the secret's decline threshold decided
    assert _item("tx-0001")["decision"] == "review"


def test_analyzer_records_the_time_it_is_given_and_measures_the_scoring(aws, lambda_context, monkeypatch):
    # GIVEN a stored transaction and a clock that advances 0.25 s per reading
    stored = _store(lambda_context, amount="20.00")
    readings = iter([100.0, 100.25])
    monkeypatch.setattr(analyze.time, "perf_counter", lambda: next(readings))
    # WHEN it is analyzed at a given time
    outcome = analyze.analyze(stored, now=1_800_000_000.0)
    # THEN that time is the recorded analysis time, and the latency is the clock's difference in ms
    assert _item("tx-0001")["analyzedAt"] == "2027-01-15T08:00:00.000Z"
    assert outcome.latency_ms == 250.0


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
    customer, terminal = ([HistoryItem._make(h) for h in side] for side in (history.customer, history.terminal))
    assert {h.transaction_id for h in customer} == {"lab-1", "tx-0001"}
    assert {h.transaction_id for h in terminal} == {"lab-1", "tx-0001"}
    labelled = next(h for h in terminal if h.transaction_id == "lab-1")
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
    blobs = _emf(capsys.readouterr().out)
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


def _emf(out: str) -> list[dict[str, Any]]:
    """The EMF metric blobs Powertools printed to stdout."""
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def _log_line(logs: Any, message: str) -> dict[str, Any]:
    return next(line for line in map(json.loads, logs.getvalue().splitlines()) if line["message"] == message)


class _PagedIndex:
    """A DynamoDB client whose index answers in pages of the given sizes (newest first), each page
    but the last pointing at the next: enough to reach the history cap without writing 20,000 items."""

    def __init__(self, *sizes: int) -> None:
        self.sizes = sizes
        self.calls: list[dict[str, Any]] = []

    def query(self, **params: Any) -> dict[str, Any]:
        page_no = len(self.calls)
        self.calls.append(dict(params))
        first = sum(self.sizes[:page_no])
        raw = [
            {
                "transactionId": {"S": f"h-{n}"},
                "timestamp": {"N": str(1_763_720_100_000 - n)},
                "amount": {"N": "1"},
                "customerId": {"S": "cust-9"},
                "terminalId": {"S": "term-9"},
            }
            for n in range(first, first + self.sizes[page_no])
        ]
        page: dict[str, Any] = {"Items": raw}
        if page_no + 1 < len(self.sizes):
            page["LastEvaluatedKey"] = {"transactionId": {"S": f"page-{page_no}"}}
        return page


def test_history_query_asks_the_index_for_the_window_newest_first(monkeypatch):
    # GIVEN an index with one short page
    index = _PagedIndex(1)
    monkeypatch.setenv("TABLE_NAME", "transactions-other")
    monkeypatch.setattr(history, "client", lambda _service: index)
    # WHEN the customer's history at t is read
    found = history.query_index(CUSTOMER_HISTORY, "cust-9", 1_763_720_100_000)
    # THEN one query covers (t - 37 days, t] on the customer index, newest first, projected attributes only
    assert index.calls == [
        {
            "TableName": "transactions-other",
            "IndexName": "customer-time",
            "KeyConditionExpression": "#k = :k AND #t BETWEEN :lo AND :hi",
            "ExpressionAttributeNames": {
                "#k": "customerId",
                "#t": "timestamp",
                "#a0": "transactionId",
                "#a1": "timestamp",
                "#a2": "amount",
                "#a3": "fraudLabel",
                "#a4": "labelTime",
                "#a5": "terminalId",
                "#a6": "customerId",
            },
            "ExpressionAttributeValues": {
                ":k": {"S": "cust-9"},
                ":lo": {"N": "1760523300001"},
                ":hi": {"N": "1763720100000"},
            },
            "ProjectionExpression": "#a0, #a1, #a2, #a3, #a4, #a5, #a6",
            "ScanIndexForward": False,
        }
    ]
    assert [h.transaction_id for h in found] == ["h-0"]


@pytest.mark.parametrize(
    ("sizes", "queries", "read"),
    [
        ((19_998, 1, 1), 3, None),  # 19,999 read with more to come: keep paging; the last page ends it
        ((19_999, 1, 1), 2, 20_000),  # exactly the cap with more to come: stop
        ((19_999, 2, 1), 2, 20_001),  # past the cap: stop, keep the newest 20,000
    ],
)
def test_history_query_pages_until_the_cap_of_20000_items(monkeypatch, logs, sizes, queries, read):
    # GIVEN a very busy terminal whose index answers in pages
    index = _PagedIndex(*sizes)
    monkeypatch.setenv("TABLE_NAME", "transactions-other")
    monkeypatch.setattr(history, "client", lambda _service: index)
    # WHEN its history is read
    found = history.query_index(TERMINAL_HISTORY, "term-9", 1_763_720_100_000)
    # THEN paging follows LastEvaluatedKey up to the cap, and at most the 20,000 newest items are kept
    assert len(index.calls) == queries
    assert [call.get("ExclusiveStartKey") for call in index.calls] == [None] + [
        {"transactionId": {"S": f"page-{n}"}} for n in range(queries - 1)
    ]
    assert len(found) == 20_000 and (found[0].transaction_id, found[-1].transaction_id) == ("h-0", "h-19999")
    truncated = [json.loads(x) for x in logs.getvalue().splitlines() if '"history truncated"' in x]
    expected = [] if read is None else [("WARNING", "terminal-time", read)]
    assert [(x["level"], x["index"], x["items"]) for x in truncated] == expected


@pytest.mark.parametrize(
    ("stored", "fraud", "label_time"),
    [
        ({"fraudLabel": True, "labelTime": Decimal("1763720100123")}, True, 1_763_720_100.123),
        ({"fraudLabel": False, "labelTime": 1_763_720_100_500}, False, 1_763_720_100.5),
        ({"fraudLabel": Decimal(1), "labelTime": 1_763_720_100_250.0}, None, 1_763_720_100.25),
        ({"fraudLabel": "true", "labelTime": "2025-11-21T10:15:00.123+00:00"}, None, 1_763_720_100.123),
        ({"labelTime": "yesterday"}, None, None),
        ({"labelTime": ["1763720100123"]}, None, None),
        ({}, None, None),
    ],
)
def test_history_item_converts_ms_to_seconds_and_keeps_only_boolean_labels(stored, fraud, label_time):
    # GIVEN an index item as DynamoDB returns it (epoch ms, decimals), with some kind of label
    item = {
        "transactionId": "h-1",
        "timestamp": Decimal("1763720000250"),
        "amount": Decimal("20.50"),
        "customerId": "cust-9",
        "terminalId": "term-9",
        **stored,
    }
    # WHEN it becomes a history item
    converted = history.history_item(item)
    # THEN times are epoch seconds, the amount a float, and only a real boolean counts as a label
    assert converted == HistoryItem("h-1", 1_763_720_000.25, 20.5, "cust-9", "term-9", fraud, label_time)


def test_analyzer_scorer_comes_from_the_model_path_in_the_environment(monkeypatch, tmp_path):
    # GIVEN a valid artifact with its own version at SCORING_MODEL_PATH and no scorer loaded yet
    artifact = json.loads((Path(fraud_scoring.__file__).with_name("model.json")).read_text(encoding="utf-8"))
    artifact["model_version"] = "gbdt-from-env"
    path = tmp_path / "model.json"
    path.write_text(json.dumps(artifact), encoding="utf-8")
    monkeypatch.setenv("SCORING_MODEL_PATH", str(path))
    analyze.set_scorer(None)
    # WHEN the scorer is asked for twice
    first, second = analyze.get_scorer(), analyze.get_scorer()
    # THEN it is that artifact, loaded once
    assert first.model.version == "gbdt-from-env" and second is first


@pytest.mark.parametrize("configured", [None, ""])
def test_analyzer_scorer_without_a_model_path_is_the_shipped_artifact(monkeypatch, configured):
    # GIVEN no (or an empty) SCORING_MODEL_PATH and no scorer loaded yet
    if configured is None:
        monkeypatch.delenv("SCORING_MODEL_PATH", raising=False)
    else:
        monkeypatch.setenv("SCORING_MODEL_PATH", configured)
    analyze.set_scorer(None)
    # WHEN the scorer is asked for
    scorer = analyze.get_scorer()
    # THEN it is the artifact shipped in the package
    assert scorer.model.version == "gbdt-837866bc7c68"


_IMAGE: dict[str, Any] = {
    "transactionId": "tx-9",
    "timestamp": Decimal("1763720100123"),
    "customerId": "cust-9",
    "terminalId": "term-9",
    "amount": Decimal("12.34"),
    "currency": "USD",
    "merchantCategoryCode": "5812",
    "channel": "ecommerce",
    "cardBin": "411111",
    "cardLast4": "1111",
    "cardHash": "hash-9",
}


def test_analyzer_stored_item_becomes_the_scorers_transaction():
    # WHEN a stored item is converted
    transaction = analyze.to_transaction(_IMAGE)
    # THEN every field reaches the scorer, the time in epoch seconds
    assert transaction == Transaction(
        "tx-9", 1_763_720_100.123, "cust-9", "term-9", 12.34, "USD", "5812", "ecommerce", "411111", "1111", "hash-9"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"customerId": None}, "stored transaction lacks attribute 'customerId'"),
        ({"amount": "twelve"}, "stored transaction is malformed: ValueError"),
        ({"amount": [12]}, "stored transaction is malformed: TypeError"),
        ({"timestamp": 10**400}, "stored transaction is malformed: OverflowError"),
    ],
)
def test_analyzer_poison_record_names_what_is_wrong(change, message):
    # GIVEN a stored item with a missing or malformed attribute (None drops it)
    image = {k: v for k, v in {**_IMAGE, **change}.items() if v is not None}
    # WHEN it is converted, THEN the error says what is wrong with it
    with pytest.raises(analyze.PoisonRecord) as raised:
        analyze.to_transaction(image)
    assert str(raised.value) == message


class _BrokenScorer:
    def score(self, *_: Any) -> Any:
        raise RuntimeError("model crashed")


def test_analyzer_failure_is_logged_with_replay_context_and_counted(aws, logs, lambda_context, capsys):
    # GIVEN a new transaction and a scorer that crashes (not a poison record: a retry may succeed)
    image = {**_IMAGE, "status": "RECEIVED"}
    analyze.set_scorer(_BrokenScorer())  # type: ignore[arg-type]
    capsys.readouterr()
    # WHEN its record is processed
    with pytest.raises(BatchProcessingError):
        lambda_handler(_batch(stream_record(image, sequence="7")), lambda_context)
    # THEN the failure line carries ids, time and stream coordinates, and RecordsFailed counts it
    failure = _log_line(logs, "record failed")
    assert {k: failure[k] for k in ("level", "transaction_id", "transaction_time", "sequence_number")} == {
        "level": "ERROR",
        "transaction_id": "tx-9",
        "transaction_time": "2025-11-21T10:15:00.123Z",
        "sequence_number": "7",
    }
    assert (failure["event_id"], failure["reason"], failure["poison"]) == ("event-7", "RuntimeError", False)
    [blob] = [b for b in _emf(capsys.readouterr().out) if "RecordsFailed" in b]
    assert blob["RecordsFailed"] == [1.0]
    assert blob["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "RecordsFailed", "Unit": "Count"}]


@pytest.mark.parametrize("timestamp", ["soon", 10**17, 10**30, None])
def test_analyzer_failure_log_omits_an_unreadable_transaction_time(aws, logs, lambda_context, timestamp):
    # GIVEN a record whose time cannot be read as epoch ms (None: no time at all)
    image = {"transactionId": "tx-p", "status": "RECEIVED", "amount": 5, "timestamp": timestamp}
    # WHEN it fails
    with pytest.raises(BatchProcessingError):
        lambda_handler(_batch(stream_record(image, sequence="8")), lambda_context)
    # THEN the failure is still logged, without a time
    failure = _log_line(logs, "record failed")
    assert failure["transaction_id"] == "tx-p" and "transaction_time" not in failure


def test_analyzer_scored_log_and_metrics_state_the_outcome(aws, logs, lambda_context, capsys, monkeypatch):
    # GIVEN a declinable transaction, a service-wide metric dimension and the namespace the code chose
    # (the env.METRICS_NAMESPACE fallback, not POWERTOOLS_METRICS_NAMESPACE)
    stored = _store(lambda_context, amount="950.00")
    metrics.set_default_dimensions(environment="test-env")
    monkeypatch.setattr(metrics, "namespace", "FraudDetectionFallback")
    capsys.readouterr()
    # WHEN it is analyzed
    lambda_handler(_batch(stream_record(stored, sequence="1")), lambda_context)
    # THEN the scored line names the outcome (score to four decimals) and EMF carries latency and decision
    scored = _log_line(logs, "transaction scored")
    assert (scored["level"], scored["transaction_id"], scored["decision"], scored["model_version"]) == (
        "INFO",
        "tx-0001",
        "decline",
        "test-model-1",
    )
    assert scored["score"] == 0.9999  # stored as 0.999877: the log line rounds to four decimals
    blobs = _emf(capsys.readouterr().out)
    [latency] = [b for b in blobs if "ScoreLatency" in b]
    assert latency["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "ScoreLatency", "Unit": "Milliseconds"}]
    [decision] = [b for b in blobs if "Decisions" in b]
    [emitted] = decision["_aws"]["CloudWatchMetrics"]
    assert (emitted["Namespace"], emitted["Metrics"]) == (
        "FraudDetectionFallback",
        [{"Name": "Decisions", "Unit": "Count"}],
    )
    assert (decision["Decision"], decision["environment"], decision["Decisions"]) == ("decline", "test-env", [1.0])


def test_analyzer_decision_counts_are_per_invocation(aws, lambda_context, capsys):
    # GIVEN two approvable transactions, analyzed in one invocation
    first = _store(lambda_context, transactionId="tx-1", amount="5.00")
    second = _store(lambda_context, transactionId="tx-2", amount="6.00")
    third = _store(lambda_context, transactionId="tx-3", amount="7.00")
    lambda_handler(_batch(stream_record(first, sequence="1"), stream_record(second, sequence="2")), lambda_context)
    assert [b["Decisions"] for b in _emf(capsys.readouterr().out) if "Decisions" in b] == [[2.0]]
    # WHEN the next invocation scores one more
    lambda_handler(_batch(stream_record(third, sequence="3")), lambda_context)
    # THEN its Decisions metric counts only its own
    assert [b["Decisions"] for b in _emf(capsys.readouterr().out) if "Decisions" in b] == [[1.0]]


def test_analyzer_already_scored_record_is_logged_with_its_id(aws, logs, lambda_context):
    # GIVEN a transaction already analyzed once
    stored = _store(lambda_context, transactionId="tx-r")
    lambda_handler(_batch(stream_record(stored, sequence="1")), lambda_context)
    # WHEN its record is delivered again
    lambda_handler(_batch(stream_record(stored, sequence="1")), lambda_context)
    # THEN the skip is logged with the transaction id
    skipped = _log_line(logs, "already scored, skipped")
    assert (skipped["level"], skipped["transaction_id"]) == ("INFO", "tx-r")


def test_analyzer_record_without_a_new_image_is_skipped(aws, lambda_context):
    # GIVEN a REMOVE record (TTL expiry: old image only) and a record without stream data
    removed = stream_record({"transactionId": "tx-x", "timestamp": 1}, sequence="1", event_name="REMOVE")
    removed["dynamodb"]["OldImage"] = removed["dynamodb"].pop("NewImage")
    bare = {k: v for k, v in stream_record({}, sequence="2").items() if k != "dynamodb"}
    # WHEN they reach the analyzer, THEN neither fails
    assert lambda_handler(_batch(removed, bare), lambda_context) == {"batchItemFailures": []}


# -- the model registry: promotion without a redeploy (fraud_scoring.registry, moto S3 + SSM) -----------

MODELS_BUCKET = "models-test-123456789012"
POINTER = "/fraud/test/model/promoted"
REFRESH_S = 1


@pytest.fixture
def registry(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The models bucket (SSE-KMS by default) with reg-v1 (approves 42.50) and reg-v2 (declines
    everything) published, the pointer as the stack creates it (unset), the analyzer configured."""
    s3 = aws["session"].client("s3")
    s3.create_bucket(Bucket=MODELS_BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    s3.put_bucket_encryption(
        Bucket=MODELS_BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True}]
        },
    )
    aws["session"].client("ssm").put_parameter(
        Name=POINTER, Type="String", Value='{"version": null, "previous": null, "promotedAt": null}'
    )
    store = S3Store(MODELS_BUCKET, s3)
    publish(store, amount_model_artifact("reg-v1"), {"version": "reg-v1"})
    publish(store, amount_model_artifact("reg-v2", leaves=(3.0, 3.0, 3.0)), {"version": "reg-v2"})
    monkeypatch.setenv(env.MODEL_BUCKET, MODELS_BUCKET)
    monkeypatch.setenv(env.MODEL_POINTER_PARAMETER, POINTER)
    monkeypatch.setenv(env.MODEL_REFRESH_S, str(REFRESH_S))
    analyze.set_scorer(None)
    return ["--bucket", MODELS_BUCKET, "--parameter", POINTER]


def _analyze(ctx: Any, transaction_id: str) -> tuple[str, str]:
    stored = _store(ctx, transactionId=transaction_id, amount="42.50")
    assert lambda_handler(_batch(stream_record(stored, sequence="1")), ctx) == {"batchItemFailures": []}
    item = _item(transaction_id)
    return item["modelVersion"], item["decision"]


def _after_refresh() -> None:
    time.sleep(REFRESH_S + 0.1)  # the refresh bound itself, not a measurement


def test_analyzer_follows_promotion_and_rollback_refuses_corrupt(
    aws: dict[str, Any], registry: list[str], lambda_context: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN an operator promotes reg-v1 with the CLI
    assert promote_main([*registry, "--version", "reg-v1"]) == 0
    # WHEN a transaction is analyzed THEN reg-v1 decides, and the item records it
    assert _analyze(lambda_context, "tx-reg-1") == ("reg-v1", "approve")

    # WHEN reg-v2 is promoted THEN the same warm analyzer uses it once the refresh is due
    assert promote_main([*registry, "--version", "reg-v2"]) == 0
    _after_refresh()
    assert _analyze(lambda_context, "tx-reg-2") == ("reg-v2", "decline")

    # WHEN the operator rolls back THEN reg-v1 decides again
    assert promote_main([*registry, "--rollback"]) == 0
    _after_refresh()
    assert _analyze(lambda_context, "tx-reg-3") == ("reg-v1", "approve")

    # WHEN the pointer names a corrupt artifact THEN it is refused, logged, and reg-v1 keeps deciding
    aws["s3"].put_object(Bucket=MODELS_BUCKET, Key="models/reg-v3/model.json", Body=b'{"format": "fraud-sc')
    aws["session"].client("ssm").put_parameter(
        Name=POINTER, Type="String", Overwrite=True, Value=json.dumps({"version": "reg-v3", "previous": "reg-v1"})
    )
    _after_refresh()
    with caplog.at_level(logging.ERROR, logger="fraud_scoring.registry"):
        assert _analyze(lambda_context, "tx-reg-4") == ("reg-v1", "approve")
    refused = [r for r in caplog.records if r.message == MODEL_REFUSED_MESSAGE]
    assert [(r.refused_version, r.model_version) for r in refused] == [("reg-v3", "reg-v1")]  # type: ignore[attr-defined]


def test_promote_cli_unknown_parameter_names_aws_error(registry: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN the operator gives a parameter that does not exist THEN exit 1 with AWS's error named
    code = promote_main(["--bucket", MODELS_BUCKET, "--parameter", "/fraud/nope/model/promoted", "--show"])
    assert code == 1
    assert "ParameterNotFound" in capsys.readouterr().err


SHADOW_POINTER = "/fraud/test/model/shadow"


def test_analyzer_records_the_shadow_score_beside_the_decision_until_cleared(
    aws: dict[str, Any], registry: list[str], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the stack's unset shadow pointer, reg-v1 promoted and reg-v2 (declines everything) put in shadow by the CLI
    aws["session"].client("ssm").put_parameter(
        Name=SHADOW_POINTER, Type="String", Value='{"version": null, "previous": null, "promotedAt": null}'
    )
    monkeypatch.setenv(env.MODEL_SHADOW_PARAMETER, SHADOW_POINTER)
    shadow_cli = ["--bucket", MODELS_BUCKET, "--shadow-parameter", SHADOW_POINTER]
    assert promote_main([*registry, "--version", "reg-v1"]) == 0
    assert promote_main([*shadow_cli, "--shadow", "reg-v2"]) == 0
    # WHEN a transaction is analyzed
    assert _analyze(lambda_context, "tx-shadow-1") == ("reg-v1", "approve")
    # THEN reg-v1 decided, and reg-v2's score and version sit beside the decision in the same item
    item = _item("tx-shadow-1")
    assert (item["shadowScore"], item["shadowModelVersion"], item["shadowDecision"]) == (
        Decimal("0.952574"),
        "reg-v2",
        "decline",
    )
    # WHEN the shadow is cleared THEN, once the refresh is due, items carry no shadow attributes
    assert promote_main([*shadow_cli, "--clear-shadow"]) == 0
    _after_refresh()
    assert _analyze(lambda_context, "tx-shadow-2") == ("reg-v1", "approve")
    assert not {"shadowScore", "shadowModelVersion", "shadowDecision"} & _item("tx-shadow-2").keys()


class _FailingShadow:
    model_version = "shadow-broken"

    def score(self, *_: Any) -> Any:
        raise RuntimeError("shadow model crashed")


def test_analyzer_failing_shadow_never_fails_the_record_and_is_logged_and_counted(
    aws: dict[str, Any], logs: Any, lambda_context: Any, test_scorer: Scorer, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a shadow scorer that crashes
    analyze.set_scorer(test_scorer, shadow=_FailingShadow())  # type: ignore[arg-type]
    stored = _store(lambda_context, transactionId="tx-shadow-f", amount="42.50")
    capsys.readouterr()
    # WHEN its record is processed THEN it succeeds, the live decision is stored without a shadow score
    assert lambda_handler(_batch(stream_record(stored, sequence="1")), lambda_context) == {"batchItemFailures": []}
    item = _item("tx-shadow-f")
    assert item["status"] == "SCORED" and "shadowScore" not in item
    # AND the failure is logged with the shadow version and counted as ShadowFailures
    failure = _log_line(logs, "shadow scoring failed")
    assert (failure["level"], failure["transaction_id"], failure["shadow_model_version"]) == (
        "ERROR",
        "tx-shadow-f",
        "shadow-broken",
    )
    [blob] = [b for b in _emf(capsys.readouterr().out) if "ShadowFailures" in b]
    assert blob["ShadowFailures"] == [1.0]
