"""The training export: one UTC day of both paths (moto DynamoDB, fraud-api on PostgreSQL) as Parquet."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from moto import mock_aws

from fraud_common import jobs
from fraud_common.tables import boto3_create_table_args, day_shard
from fraud_scoring import export
from functions.common import items
from tests.api.utils import iso, new_id, transaction

TABLE = "transactions-test"
DAY = datetime.now(UTC).date() - timedelta(days=3)


def _at(day: date, hour: int, minute: int = 0, second: float = 0.0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) + timedelta(seconds=second)


def _score(client: TestClient, moment: datetime, **fields: object) -> str:
    body = transaction(timestamp=iso(moment), **fields)
    assert client.post("/api/v1/score", json=body).status_code == 200
    return str(body["transactionId"])


def _label(client: TestClient, tx_id: str, fraud: bool, moment: datetime) -> None:
    body = {"transactionId": tx_id, "fraud": fraud, "source": "chargeback", "labelTime": iso(moment)}
    assert client.post("/api/v1/feedback", json=body).status_code == 200


def _item(tx_id: str, moment: datetime, **extra: Any) -> dict[str, Any]:
    """A stored ingestion item, card fields included (the export must drop them)."""
    ms = int(moment.timestamp() * 1000)
    return {
        "transactionId": tx_id,
        "timestamp": ms,
        "customerId": "cust-ing",
        "terminalId": "term-ing",
        "dayShard": day_shard(ms, tx_id),
        "amount": Decimal("12.50"),
        "currency": "EUR",
        "channel": "pos",
        "cardHash": "a" * 64,
        "cardKeyVersion": "v1",
        "cardBin": "411111",
        "cardLast4": "1111",
        "cardLength": 16,
        "status": "RECEIVED",
        **extra,
    }


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**boto3_create_table_args(TABLE))
        yield client


def _env(database_url: str, location: Path) -> dict[str, str]:
    # The export's own user: if migration 004's grants were short, the export would fail here.
    return {
        jobs.EXPORT_DATABASE_URL: database_url.replace("postgres:@", f"{jobs.EXPORT_DB_USER}:@"),
        jobs.EXPORT_LOCATION: str(location),
        jobs.EXPORT_TABLE_NAME: TABLE,
    }


def test_export_writes_one_day_of_both_paths_with_labels_and_no_card_column(
    client: TestClient, database_url: str, dynamodb: Any, tmp_path: Path
) -> None:
    # GIVEN on DAY: two fraud-api transactions (one labelled) and two ingestion items (one scored and
    # labelled, one not yet scored), and a transaction of each path just outside the day on either side
    customer = new_id("cust")
    api_labelled = _score(client, _at(DAY, 0), customerId=customer, terminalId="term-api", amount="10.00")
    api_plain = _score(client, _at(DAY, 23, 59, 59.5), customerId=customer, terminalId="term-api", amount="20.00")
    _score(client, _at(DAY, 0) - timedelta(seconds=0.5), customerId=customer)
    _score(client, _at(DAY + timedelta(days=1), 0), customerId=customer)
    _label(client, api_labelled, True, _at(DAY, 0) + timedelta(days=2))
    scored = {
        "status": "SCORED",
        "score": Decimal("0.91"),
        "decision": "decline",
        "modelVersion": "m-1",
        "fraudLabel": True,
        "labelTime": int(_at(DAY, 12).timestamp() * 1000) + 86_400_000,
        "labelSource": "chargeback",
    }
    for entry in (
        _item("ing-1", _at(DAY, 12), **scored),
        _item("ing-2", _at(DAY, 13)),
        _item("ing-early", _at(DAY, 0) - timedelta(milliseconds=1)),
        _item("ing-late", _at(DAY + timedelta(days=1), 0)),
    ):
        dynamodb.put_item(TableName=TABLE, Item=items.serialize(entry))
    # WHEN the day is exported and read back
    written = export.export_days([DAY], _env(database_url, tmp_path), dynamodb=dynamodb)
    frame = export.read_labelled_window(str(tmp_path), DAY, DAY + timedelta(days=1))
    # THEN exactly the day's four transactions are there, in time order, in the contract's columns
    assert written == {DAY.isoformat(): 4}
    assert (tmp_path / f"day={DAY.isoformat()}" / "part-0.parquet").is_file()
    assert list(frame.columns) == [
        "transaction_id", "timestamp", "customer_id", "terminal_id", "amount", "fraud", "label_time",
        "label_source", "score", "decision", "model_version", "path",
    ]  # fmt: skip
    assert not [c for c in frame.columns if "card" in c or "bin" in c or "last4" in c]
    assert list(frame["transaction_id"]) == [api_labelled, "ing-1", "ing-2", api_plain]
    assert list(frame["path"]) == ["api", "ingestion", "ingestion", "api"]
    assert str(frame["fraud"].dtype) == "boolean" and str(frame["timestamp"].dtype) == "float64"
    rows = frame.set_index("transaction_id")
    assert rows.loc[api_labelled, "timestamp"] == _at(DAY, 0).timestamp()
    assert rows.loc[api_labelled, "amount"] == 10.0 and rows.loc[api_labelled, "customer_id"] == customer
    assert bool(rows.loc[api_labelled, "fraud"]) is True
    assert rows.loc[api_labelled, "label_time"] == (_at(DAY, 0) + timedelta(days=2)).timestamp()
    assert rows.loc[api_labelled, "label_source"] == "chargeback"
    assert rows.loc[api_labelled, "model_version"] == "test-amount-tree-1"
    assert rows.loc[api_plain, "timestamp"] == _at(DAY, 23, 59, 59.5).timestamp()
    assert pd.isna(rows.loc[api_plain, "fraud"]) and math.isnan(rows.loc[api_plain, "label_time"])
    assert pd.isna(rows.loc[api_plain, "label_source"])
    assert rows.loc["ing-1", "timestamp"] == _at(DAY, 12).timestamp() and rows.loc["ing-1", "amount"] == 12.5
    assert rows.loc["ing-1", "score"] == 0.91 and rows.loc["ing-1", "decision"] == "decline"
    assert rows.loc["ing-1", "label_time"] == _at(DAY, 12).timestamp() + 86_400
    assert rows.loc["ing-1", "label_source"] == "chargeback" and rows.loc["ing-1", "model_version"] == "m-1"
    assert pd.isna(rows.loc["ing-2", "fraud"]) and math.isnan(rows.loc["ing-2", "score"])
    assert pd.isna(rows.loc["ing-2", "decision"]) and pd.isna(rows.loc["ing-2", "model_version"])


def test_reexporting_a_day_replaces_its_partition_with_the_latest_labels(
    client: TestClient, database_url: str, dynamodb: Any, tmp_path: Path
) -> None:
    # GIVEN a day exported before its transaction was labelled
    day = DAY - timedelta(days=1)
    tx_id = _score(client, _at(day, 9), terminalId=new_id("term"))
    env = _env(database_url, tmp_path)
    export.export_days([day], env, dynamodb=dynamodb)
    # WHEN the label arrives and the day is exported again
    _label(client, tx_id, False, _at(day, 9) + timedelta(days=1))
    export.export_days([day], env, dynamodb=dynamodb)
    # THEN the day holds the transaction once, with its label (other tests of the module may have
    # scored on the same day: the shared database is not this test's alone)
    frame = export.read_labelled_window(str(tmp_path), day, day + timedelta(days=1))
    mine = frame[frame["transaction_id"] == tx_id].reset_index(drop=True)
    assert len(mine) == 1
    assert bool(mine.loc[0, "fraud"]) is False and mine.loc[0, "label_time"] == _at(day, 9).timestamp() + 86_400
    assert sorted(p.name for p in (tmp_path / f"day={day.isoformat()}").iterdir()) == ["part-0.parquet"]


def test_read_labelled_window_names_the_days_never_exported(tmp_path: Path) -> None:
    # GIVEN only the first of three days exported (empty)
    export.write_day(export.DirectoryStore(tmp_path), date(2026, 3, 1), [])
    # WHEN the three days are read THEN the two missing ones are named
    with pytest.raises(export.PartitionMissing, match="2026-03-02, 2026-03-03"):
        export.read_labelled_window(str(tmp_path), "2026-03-01", "2026-03-04")
    # AND the exported empty day reads as an empty frame with the contract's columns
    assert list(export.read_labelled_window(str(tmp_path), "2026-03-01", "2026-03-02").columns) == list(export.COLUMNS)


def test_s3_partitions_are_written_with_the_stacks_kms_key_and_read_back() -> None:
    with mock_aws():
        # GIVEN a bucket and the stack's key
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="data-bucket")
        key_arn = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
        store = export.open_store("s3://data-bucket/exports", key_arn, s3)
        row = dict.fromkeys(export.COLUMNS) | {"transaction_id": "tx-1", "timestamp": 1.0, "path": "api"}
        # WHEN a day is written
        export.write_day(store, date(2026, 3, 1), [row])
        # THEN it is one object under exports/day=.../, SSE-KMS under that key, and reads back
        head = s3.head_object(Bucket="data-bucket", Key="exports/day=2026-03-01/part-0.parquet")
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key_arn
        frame = export.read_labelled_window(store, "2026-03-01", "2026-03-02")
        assert list(frame["transaction_id"]) == ["tx-1"]
        # AND without the key nothing is written (S3 would fall back to the aws/s3 key)
        with pytest.raises(export.ExportConfigError, match="FRAUD_EXPORT_KMS_KEY_ARN is required"):
            export.write_day(export.open_store("s3://data-bucket/exports", None, s3), date(2026, 3, 2), [row])
        assert s3.list_objects_v2(Bucket="data-bucket")["KeyCount"] == 1


def test_cli_names_the_missing_settings(capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN the export runs with no configuration THEN it exits 2 naming what to set
    assert export.main(["--day", "2026-03-01"], env={}) == 2
    assert capsys.readouterr().err == (
        "export: configuration error: FRAUD_EXPORT_LOCATION is not set; FRAUD_EXPORT_TABLE_NAME is not set\n"
    )
    # AND a malformed day is refused by the parser
    with pytest.raises(SystemExit):
        export.main(["--day", "yesterday"], env={})
    assert "'yesterday' is not a date: expected YYYY-MM-DD" in capsys.readouterr().err
