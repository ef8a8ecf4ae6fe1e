"""Bulk label files (labeler Lambda) against moto S3 and DynamoDB: per-row results, refusal whole, retries."""

from __future__ import annotations

import json
from typing import Any

import pytest
from handler_support import BUCKET, TABLE, VISA, dump_table, find_pans, put_transaction_item

from fraud_common import env
from functions.labeler import bulk
from functions.labeler.handler import lambda_handler

CSV_HEADER = "transactionId,fraud,source,labelTime\n"


def _drop(aws: dict[str, Any], key: str, text: str) -> None:
    aws["s3"].put_object(Bucket=BUCKET, Key=key, Body=text.encode("utf-8"))


def _result(aws: dict[str, Any], key: str) -> dict[str, Any]:
    found = aws["s3"].get_object(Bucket=BUCKET, Key=key)
    assert found["ServerSideEncryption"] == "aws:kms"
    assert found["SSEKMSKeyId"] == aws["report_key_arn"]
    return json.loads(found["Body"].read())


def _labels(aws: dict[str, Any]) -> dict[str, tuple[bool, str, str] | None]:
    """Transaction id -> (fraud, labelTime ms, source) or None, straight from the table."""
    return {
        item["transactionId"]["S"]: (item["fraudLabel"]["BOOL"], item["labelTime"]["N"], item["labelSource"]["S"])
        if "fraudLabel" in item
        else None
        for item in dump_table(aws["dynamodb"], TABLE)
    }


def _s3_event(key: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-2",
                "eventName": "ObjectCreated:Put",
                "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": BUCKET}, "object": {"key": key, "size": 1}},
            }
        ]
    }


@pytest.fixture
def two_transactions(aws: dict[str, Any]) -> dict[str, Any]:
    put_transaction_item(aws, "tx-a")
    put_transaction_item(aws, "tx-b")
    return aws


def test_labeler_mixed_csv_gives_each_row_its_outcome(two_transactions, logs, lambda_context):
    # GIVEN a CSV whose rows are: a new label, an unknown id, a label before its transaction, a card
    # number as id with a bad source, and an older label for the first transaction
    aws = two_transactions
    _drop(
        aws,
        "labels/2026/chargebacks.csv",
        CSV_HEADER
        + "tx-a,true,chargeback,2026-01-12T00:00:00Z\n"
        + "tx-zzz,true,chargeback,2026-01-12T00:00:00Z\n"
        + "tx-b,TRUE,issuer_report,2026-01-09T00:00:00Z\n"
        + f"{VISA},true,rumour,2026-01-12T00:00:00Z\n"
        + "tx-a,false,analyst_review,2026-01-11T00:00:00Z\n",
    )
    # WHEN the S3 notification (key URL-encoded as S3 sends it) reaches the labeler
    summary = lambda_handler(_s3_event("labels/2026/chargebacks.csv"), lambda_context)
    # THEN the result object lists every row by line number, redacting the card number
    result = _result(aws, "label-results/2026/chargebacks.csv.json")
    assert result["status"] == "done"
    assert result["counts"] == {"rows": 5, "applied": 1, "unknown": 1, "refused": 2, "kept": 1}
    assert [(r["row"], r["transactionId"], r["outcome"]) for r in result["rows"]] == [
        (2, "tx-a", "applied"),
        (3, "tx-zzz", "unknown"),
        (4, "tx-b", "refused"),
        (5, "411111******1111", "refused"),
        (6, "tx-a", "kept"),
    ]
    assert result["rows"][2]["problems"] == [
        {"field": "labelTime", "message": "labelTime is earlier than the transaction's timestamp"}
    ]
    assert [p["field"] for p in result["rows"][3]["problems"]] == ["transactionId", "source"]
    assert find_pans(json.dumps(result)) == [] and find_pans(logs.getvalue()) == []
    # AND only the valid, newest label is in the table
    assert _labels(aws) == {"tx-a": (True, "1768176000000", "chargeback"), "tx-b": None}
    assert summary == {"files": [{"file": "labels/2026/chargebacks.csv", "status": "done", "counts": result["counts"]}]}


def test_labeler_jsonl_file_is_applied_row_by_row(two_transactions):
    # GIVEN a JSON Lines file (a blank line, a label without time, a later label for tx-b)
    aws = two_transactions
    lines = [
        {"transactionId": "tx-a", "fraud": False, "source": "analyst_review", "labelTime": "2026-01-11T00:00:00Z"},
        {"transactionId": "tx-b", "fraud": True, "source": "chargeback"},
    ]
    _drop(aws, "labels/review.jsonl", json.dumps(lines[0]) + "\n\n" + json.dumps(lines[1]) + "\n")
    # WHEN it is applied (the clock fixed at 2026-01-20T00:00:00Z)
    result = bulk.apply_file(BUCKET, "labels/review.jsonl", now_ms=1768867200000)
    # THEN both rows are applied, by their line numbers, the second at "now"
    assert [(r["row"], r["outcome"]) for r in result["rows"]] == [(1, "applied"), (3, "applied")]
    assert _labels(aws) == {
        "tx-a": (False, "1768089600000", "analyst_review"),
        "tx-b": (True, "1768867200000", "chargeback"),
    }
    assert _result(aws, "label-results/review.jsonl.json") == result


def test_labeler_malformed_file_is_refused_whole(two_transactions):
    # GIVEN a JSONL file whose third line is not JSON, after two valid labels
    aws = two_transactions
    good = json.dumps({"transactionId": "tx-a", "fraud": True, "source": "chargeback"})
    _drop(aws, "labels/broken.jsonl", f"{good}\n{good}\n{{not json\n")
    # WHEN it is applied
    bulk.apply_file(BUCKET, "labels/broken.jsonl")
    # THEN nothing is applied and the result says why
    assert _result(aws, "label-results/broken.jsonl.json") == {
        "file": "labels/broken.jsonl",
        "status": "refused",
        "reason": "line 3: not valid JSON",
        "counts": {},
        "rows": [],
    }
    assert _labels(aws) == {"tx-a": None, "tx-b": None}


@pytest.mark.parametrize(
    ("key", "text", "reason"),
    [
        (
            "labels/a.csv",
            "id,fraud,source,labelTime\ntx-a,true,chargeback,\n",
            "line 1: the header must be transactionId,fraud,source,labelTime",
        ),
        ("labels/b.csv", CSV_HEADER + "tx-a,true,chargeback\n", "line 2: 3 columns, expected 4"),
        ("labels/c.jsonl", "[1, 2]\n", "line 1: not a JSON object"),
        ("labels/d.txt", CSV_HEADER, "the file name must end in .csv, .jsonl or .ndjson"),
    ],
)
def test_labeler_structural_problems_refuse_the_file(two_transactions, key, text, reason):
    _drop(two_transactions, key, text)
    result = bulk.apply_file(BUCKET, key)
    assert (result["status"], result["reason"]) == ("refused", reason)
    assert _labels(two_transactions) == {"tx-a": None, "tx-b": None}


def test_labeler_file_over_the_bound_is_refused_unread(two_transactions, monkeypatch):
    # GIVEN a bound of 64 bytes and a 100-byte file
    monkeypatch.setenv(env.LABELS_MAX_FILE_BYTES, "64")
    _drop(two_transactions, "labels/big.csv", CSV_HEADER + "tx-a,true,chargeback,2026-01-12T00:00:00Z\n" * 2)
    result = bulk.apply_file(BUCKET, "labels/big.csv")
    assert result["reason"] == "the file is larger than the limit of 64 bytes; split it"
    assert _labels(two_transactions) == {"tx-a": None, "tx-b": None}


def test_labeler_retry_of_a_file_gives_the_same_result(two_transactions, lambda_context):
    # GIVEN a file already applied once (as when Lambda retries an invocation that died after the rows)
    aws = two_transactions
    _drop(aws, "labels/again.csv", CSV_HEADER + "tx-a,true,chargeback,2026-01-12T00:00:00Z\n")
    first = bulk.apply_file(BUCKET, "labels/again.csv")
    # WHEN it is applied again
    second = bulk.apply_file(BUCKET, "labels/again.csv")
    # THEN the outcome and the table are the same
    assert first == second
    assert second["rows"] == [{"row": 2, "transactionId": "tx-a", "outcome": "applied"}]
    assert _labels(aws)["tx-a"] == (True, "1768176000000", "chargeback")


def test_labeler_decodes_the_notification_key(two_transactions, lambda_context):
    _drop(two_transactions, "labels/march chargebacks.csv", CSV_HEADER)
    lambda_handler(_s3_event("labels/march+chargebacks.csv"), lambda_context)
    assert _result(two_transactions, "label-results/march chargebacks.csv.json")["counts"] == {"rows": 0}
