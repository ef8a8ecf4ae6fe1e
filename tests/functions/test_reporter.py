"""Reporter handler: one day read through the by-day index, JSON + CSV written to S3 with SSE-KMS."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from handler_support import BUCKET, PANS, TABLE, find_pans

from fraud_common import env
from fraud_common.tables import day_shard
from functions.common import items
from functions.common.aws import client
from functions.reporter import daily
from functions.reporter.handler import lambda_handler

ROOT = Path(__file__).resolve().parents[2]
N = 30
DAYS = 10
TODAY = datetime.now(tz=UTC).date()
REPORT_DAY = TODAY - timedelta(days=1)


def _item(day: date, n: int) -> dict[str, Any]:
    """Transaction n of ``day``: every 3rd is declined, every 5th reviewed, the last one pending."""
    ts = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000) + n * 60_000
    transaction_id = f"tx-{day:%m%d}-{n:03d}"
    item: dict[str, Any] = {
        "transactionId": transaction_id,
        "timestamp": ts,
        "customerId": f"cust-{n % 4}",
        "terminalId": f"term-{n % 3}",
        "dayShard": day_shard(ts, transaction_id),
        "amount": Decimal(f"{10 + n}.25"),
        "currency": "EUR" if n % 2 else "USD",
        "channel": "ecom",
        "cardHash": "ab" * 32,
        "cardKeyVersion": "1",
        "cardBin": "411111",
        "cardLast4": "1111",
        "cardLength": 16,
        "status": "RECEIVED",
        "receivedAt": items.iso_ms(ts),
    }
    if n == N - 1:
        return item
    decision = "decline" if n % 3 == 0 else "review" if n % 5 == 0 else "approve"
    score = {"decline": Decimal("0.9"), "review": Decimal("0.6"), "approve": Decimal("0.1")}[decision]
    item.update(
        status="SCORED",
        decision=decision,
        score=score + Decimal(n) / 1000,
        reasons=["=cmd|' /C calc'!A0", "model score high"] if decision != "approve" else [],
        modelVersion="model-7",
        analyzedAt=items.iso_ms(ts + 1000),
    )
    if n == 1:
        item["fraudLabel"] = True
    return item


def _load(aws: dict[str, Any]) -> None:
    """DAYS days of N transactions each (a table 10x the reported day), plus a marker item."""
    rows = [_item(TODAY - timedelta(days=d), n) for d in range(1, DAYS + 1) for n in range(N)]
    rows.append({"transactionId": "tx-marker", "timestamp": 0, "itemType": "MARKER", "fingerprint": "x"})
    for start in range(0, len(rows), 25):
        chunk = [{"PutRequest": {"Item": items.serialize(r)}} for r in rows[start : start + 25]]
        aws["dynamodb"].batch_write_item(RequestItems={TABLE: chunk})


def _objects(aws: dict[str, Any], day: date) -> dict[str, bytes]:
    prefix = f"reports/{day:%Y/%m/%d}/"
    listing = aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"]: aws["s3"].get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listing}


@pytest.fixture
def api_calls() -> dict[str, list[dict[str, Any]]]:
    """Spies on the reporter's DynamoDB client: every Query's parameters and every Scan."""
    calls: dict[str, list[dict[str, Any]]] = {"Query": [], "Scan": []}
    events = client("dynamodb").meta.events
    events.register("provide-client-params.dynamodb.Query", lambda params, **_: calls["Query"].append(params))
    events.register("provide-client-params.dynamodb.Scan", lambda params, **_: calls["Scan"].append(params))
    return calls


def test_reporter_one_day_of_ten_is_read_through_the_day_index_without_scan(aws, lambda_context, api_calls):
    # GIVEN a table holding ten days of N transactions
    _load(aws)
    # WHEN yesterday's report is built
    summary = lambda_handler({"date": REPORT_DAY.isoformat()}, lambda_context)
    # THEN only that day's N transactions were read, one query per day shard, and no Scan
    assert summary["transactions"] == N
    assert api_calls["Scan"] == []
    assert len(api_calls["Query"]) == 16 == summary["queries"]
    assert {q["IndexName"] for q in api_calls["Query"]} == {"day-time"}
    assert {q["ExpressionAttributeValues"][":s"]["S"][:10] for q in api_calls["Query"]} == {REPORT_DAY.isoformat()}


def test_reporter_report_has_totals_rates_flagged_and_rankings(aws, lambda_context):
    # GIVEN the ten-day table
    _load(aws)
    # WHEN yesterday's report is built
    lambda_handler({"date": REPORT_DAY.isoformat()}, lambda_context)
    # THEN report.json holds the day's figures
    objects = _objects(aws, REPORT_DAY)
    prefix = f"reports/{REPORT_DAY:%Y/%m/%d}/"
    assert set(objects) == {prefix + "report.json", prefix + "report.csv"}
    report = json.loads(objects[prefix + "report.json"])
    scored = N - 1
    declined = len([n for n in range(scored) if n % 3 == 0])
    reviewed = len([n for n in range(scored) if n % 3 and n % 5 == 0])
    assert report["date"] == REPORT_DAY.isoformat()
    assert report["totals"] == {"transactions": N, "scored": scored, "pending": 1, "flagged": declined + reviewed}
    assert report["decisions"] == {"approve": scored - declined - reviewed, "review": reviewed, "decline": declined}
    assert report["fraudRate"] == pytest.approx(declined / scored, abs=1e-6)
    assert report["confirmedFraudRate"] == 1.0 and report["labelled"] == 1
    assert report["amounts"]["EUR"]["transactions"] + report["amounts"]["USD"]["transactions"] == N
    assert report["modelVersion"] == "model-7"
    flagged = report["flaggedTransactions"]
    assert [f["score"] for f in flagged] == sorted((f["score"] for f in flagged), reverse=True)
    assert all(f["card"] == "411111******1111" for f in flagged)
    assert report["riskiestTerminals"][0]["flagged"] >= report["riskiestTerminals"][-1]["flagged"]
    assert {c["customerId"] for c in report["riskiestCustomers"]} <= {f"cust-{i}" for i in range(4)}
    # AND report.csv lists every flagged transaction, formula-like cells neutralised
    rows = list(csv.DictReader(io.StringIO(objects[prefix + "report.csv"].decode())))
    assert len(rows) == declined + reviewed
    assert all(row["reasons"].startswith("'=cmd") for row in rows)


def test_reporter_objects_are_encrypted_with_the_configured_key_and_hold_no_pan(aws, lambda_context):
    # GIVEN the ten-day table and the report key the pipeline configures (a customer-managed key)
    _load(aws)
    # WHEN the report is written
    lambda_handler({"date": REPORT_DAY.isoformat()}, lambda_context)
    # THEN both objects are SSE-KMS under that key, not the AWS-managed aws/s3 key that "aws:kms" alone
    # selects (S3 PutObject reference), with a bucket key, and contain no card number
    objects = _objects(aws, REPORT_DAY)
    assert len(objects) == 2
    for key, body in objects.items():
        head = aws["s3"].head_object(Bucket=BUCKET, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == aws["report_key_arn"]
        assert head["BucketKeyEnabled"] is True
        text = body.decode()
        assert find_pans(text) == [] and not any(pan in text for pan in PANS)


def test_reporter_without_report_key_writes_nothing(aws, lambda_context, monkeypatch):
    # GIVEN a reporter whose report key variable is missing
    _load(aws)
    monkeypatch.delenv("REPORTS_KMS_KEY_ARN")
    # WHEN it runs / THEN it refuses, naming the variable, and writes no report under another key
    with pytest.raises(env.MissingEnvironment, match="REPORTS_KMS_KEY_ARN"):
        lambda_handler({"date": REPORT_DAY.isoformat()}, lambda_context)
    assert aws["s3"].list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


@pytest.mark.parametrize("in_lambda", [True, False])
def test_reporter_cold_start_in_lambda_fails_without_report_key(in_lambda):
    # GIVEN every variable the reporter needs except the report key
    variables = {
        "PATH": os.environ["PATH"],
        "TABLE_NAME": TABLE,
        "REPORTS_BUCKET": BUCKET,
        "POWERTOOLS_SERVICE_NAME": "fraud-reporter",
        "POWERTOOLS_METRICS_NAMESPACE": "FraudDetection",
        "LOG_LEVEL": "INFO",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-2",
    }
    if in_lambda:
        variables["AWS_LAMBDA_FUNCTION_NAME"] = "lambda-reporter-dev"  # set by the Lambda runtime
    # WHEN the handler module is imported in a fresh interpreter (a cold start)
    result = subprocess.run(
        [sys.executable, "-c", "import functions.reporter.handler"],
        env=variables,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    # THEN in Lambda the Init fails naming the variable; elsewhere (tests, local mode) it is read when used
    if in_lambda:
        assert result.returncode != 0
        assert "MissingEnvironment: reporter: environment variable(s) REPORTS_KMS_KEY_ARN must be set" in result.stderr
    else:
        assert result.returncode == 0, result.stderr


def test_reporter_rerun_replaces_the_day_report(aws, lambda_context):
    # GIVEN a written report, then a late decision change for that day
    _load(aws)
    lambda_handler({"date": REPORT_DAY.isoformat()}, lambda_context)
    changed = _item(REPORT_DAY, N - 1)
    changed.update(status="SCORED", decision="decline", score=Decimal("0.99"), modelVersion="model-7")
    aws["dynamodb"].put_item(TableName=TABLE, Item=items.serialize(changed))
    # WHEN the day is reported again
    lambda_handler({"date": REPORT_DAY.isoformat()}, lambda_context)
    # THEN the same two objects now reflect the change
    objects = _objects(aws, REPORT_DAY)
    assert len(objects) == 2
    report = json.loads(objects[f"reports/{REPORT_DAY:%Y/%m/%d}/report.json"])
    assert report["totals"]["pending"] == 0
    assert report["flaggedTransactions"][0]["transactionId"] == changed["transactionId"]


def test_reporter_scheduled_event_reports_the_previous_utc_day(aws, lambda_context):
    # GIVEN an EventBridge scheduled event fired just after midnight UTC
    fired = datetime(TODAY.year, TODAY.month, TODAY.day, 0, 5, tzinfo=UTC)
    event = {"source": "aws.events", "detail-type": "Scheduled Event", "time": fired.isoformat(), "detail": {}}
    # WHEN it runs
    summary = lambda_handler(event, lambda_context)
    # THEN it reports the day before, here an empty one, with null rates
    assert summary["date"] == REPORT_DAY.isoformat() and summary["transactions"] == 0
    report = json.loads(_objects(aws, REPORT_DAY)[f"reports/{REPORT_DAY:%Y/%m/%d}/report.json"])
    assert report["fraudRate"] is None and report["flaggedTransactions"] == []


@pytest.mark.parametrize("bad", ["2026-13-01", "yesterday", "20261120", "2999-01-01"])
def test_reporter_bad_or_unfinished_date_is_refused(aws, lambda_context, bad):
    with pytest.raises(ValueError):
        lambda_handler({"date": bad}, lambda_context)
    assert aws["s3"].list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_reporter_malformed_item_is_counted_not_fatal(aws, lambda_context):
    # GIVEN the day's transactions plus one damaged item (no amount) in the same day shard index
    _load(aws)
    broken = _item(REPORT_DAY, 0) | {"transactionId": "tx-broken"}
    broken["dayShard"] = day_shard(broken["timestamp"], "tx-broken")
    del broken["amount"]
    aws["dynamodb"].put_item(TableName=TABLE, Item=items.serialize(broken))
    # WHEN the day is reported
    summary = lambda_handler({"date": REPORT_DAY.isoformat()}, lambda_context)
    # THEN the report is written for the N good items and names the damaged one
    assert summary["transactions"] == N and summary["malformed"] == 1
    report = json.loads(_objects(aws, REPORT_DAY)[f"reports/{REPORT_DAY:%Y/%m/%d}/report.json"])
    assert report["malformedItems"] == ["tx-broken"]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"time": "2026-11-22T00:05:00Z"}, date(2026, 11, 21)),
        ({"time": "2026-11-22T00:30:00+02:00"}, date(2026, 11, 20)),
        ({"date": "2026-11-01"}, date(2026, 11, 1)),
        ({}, date(2026, 11, 21)),
    ],
)
def test_reporter_report_day_follows_the_event_in_utc(event, expected):
    now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    assert daily.report_day(event, now) == expected


def test_reporter_report_day_refuses_the_running_day():
    with pytest.raises(ValueError, match="not ended"):
        daily.report_day({"date": "2026-11-22"}, datetime(2026, 11, 22, 23, 59, tzinfo=UTC))


def _scored(n: int, decision: str, shadow: str | None, label: bool | None) -> dict[str, Any]:
    item = {**_item(REPORT_DAY, n), "status": "SCORED", "decision": decision, "score": Decimal("0.5")}
    if shadow is not None:
        item.update(shadowScore=Decimal("0.5"), shadowModelVersion="cand-v2", shadowDecision=shadow)
    if label is not None:
        item.update(fraudLabel=label, labelTime=item["timestamp"] + 1)
    return item


def test_reporter_shadow_section_compares_decisions_agreement_and_decline_precision() -> None:
    # GIVEN four transactions scored by live and shadow (one without a shadow score), three labelled
    aggregate = daily.DayAggregate(REPORT_DAY)
    for item in (
        _scored(1, "approve", "decline", True),
        _scored(2, "decline", "decline", False),
        _scored(3, "review", "review", None),
        _scored(4, "decline", "approve", False),
        _scored(5, "approve", None, True),
    ):
        aggregate.add(item)
    # WHEN the report is built
    report = aggregate.report(generated_at=datetime(2026, 1, 1, tzinfo=UTC), queries=1)
    # THEN the shadow section counts only the four scored by both; they agree on two; among labelled
    # declines the live model caught 0 of 2 frauds and the shadow 1 of 2
    assert report["shadow"] == {
        "cand-v2": {
            "transactions": 4,
            "liveDecisions": {"approve": 1, "review": 1, "decline": 2},
            "shadowDecisions": {"approve": 1, "review": 1, "decline": 2},
            "agreementRate": 0.5,
            "labelled": 3,
            "declinePrecision": {"live": 0.0, "shadow": 0.5},
        }
    }


def test_reporter_without_shadow_scores_has_an_empty_shadow_section() -> None:
    aggregate = daily.DayAggregate(REPORT_DAY)
    aggregate.add(_scored(1, "approve", None, None))
    assert aggregate.report(generated_at=datetime(2026, 1, 1, tzinfo=UTC), queries=1)["shadow"] == {}
