"""Local mode's moto performance patches answer exactly as unpatched moto does.

The same random mix of writes (puts, transactions with and without conflicts, updates that move
an item between index partitions, deletes) runs on unpatched and on patched moto; every query of
every partition, a scan and the stream must come out identical.
"""

from __future__ import annotations

import os
import random
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from fraud_common.tables import BY_DAY, CUSTOMER_HISTORY, TERMINAL_HISTORY, boto3_create_table_args
from fraud_local import moto_patches

TABLE = "transactions-patch-test"
KEYS = {"customerId": [f"c{i}" for i in range(4)], "terminalId": [f"t{i}" for i in range(4)]}


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-2",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert "AWS_ENDPOINT_URL" not in os.environ


def _item(rng: random.Random, transaction_id: str) -> dict[str, Any]:
    return {
        "transactionId": {"S": transaction_id},
        "timestamp": {"N": str(rng.randint(1, 50))},
        "customerId": {"S": rng.choice(KEYS["customerId"])},
        "terminalId": {"S": rng.choice(KEYS["terminalId"])},
        "dayShard": {"S": f"2026-11-21#{rng.randint(0, 1)}"},
        "amount": {"N": str(rng.randint(1, 999))},
    }


def _workload(dynamodb: Any, seed: int) -> list[str]:
    """Random writes; returns what each one answered (success or the error code)."""
    rng = random.Random(seed)
    answers: list[str] = []
    for step in range(160):
        kind = rng.choice(["put", "transact", "transact", "update", "delete"])
        transaction_id = f"tx-{rng.randint(0, 40)}"
        try:
            if kind == "put":
                dynamodb.put_item(TableName=TABLE, Item=_item(rng, transaction_id))
            elif kind == "transact":
                first, second = _item(rng, transaction_id), _item(rng, f"tx-{rng.randint(0, 40)}")
                puts = [
                    {
                        "Put": {
                            "TableName": TABLE,
                            "Item": it,
                            "ConditionExpression": "attribute_not_exists(#id)",
                            "ExpressionAttributeNames": {"#id": "transactionId"},
                        }
                    }
                    for it in (first, second)
                ]
                dynamodb.transact_write_items(TransactItems=puts)
            elif kind == "update":
                dynamodb.update_item(
                    TableName=TABLE,
                    Key={"transactionId": {"S": transaction_id}, "timestamp": {"N": str(rng.randint(1, 50))}},
                    UpdateExpression="SET customerId = :c, #s = :s",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":c": {"S": rng.choice(KEYS["customerId"])}, ":s": {"S": f"S{step}"}},
                )
            else:
                dynamodb.delete_item(
                    TableName=TABLE,
                    Key={"transactionId": {"S": transaction_id}, "timestamp": {"N": str(rng.randint(1, 50))}},
                )
            answers.append(f"{kind}:ok")
        except ClientError as exc:
            answers.append(f"{kind}:{exc.response['Error']['Code']}")
    return answers


def _observe(dynamodb: Any, streams: Any, stream_arn: str) -> dict[str, Any]:
    def query(index: str | None, name: str, value: str, **extra: Any) -> list[Any]:
        params: dict[str, Any] = {
            "TableName": TABLE,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": name},
            "ExpressionAttributeValues": {":v": {"S": value}},
            **extra,
        }
        if index:
            params["IndexName"] = index
        return dynamodb.query(**params)["Items"]

    seen: dict[str, Any] = {}
    for index in (CUSTOMER_HISTORY, TERMINAL_HISTORY):
        for value in KEYS[index.hash_key]:
            seen[f"{index.name}/{value}"] = query(index.name, index.hash_key, value, ScanIndexForward=False)
    for shard in range(2):
        seen[f"{BY_DAY.name}/{shard}"] = query(BY_DAY.name, BY_DAY.hash_key, f"2026-11-21#{shard}")
    for number in range(41):
        seen[f"table/tx-{number}"] = query(None, "transactionId", f"tx-{number}")
    seen["scan"] = sorted(str(item) for item in dynamodb.scan(TableName=TABLE)["Items"])
    shard_id = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]
    seen["stream"] = [(r["eventName"], r["dynamodb"]["Keys"], r["dynamodb"].get("NewImage")) for r in records]
    return seen


def _run(seed: int) -> tuple[list[str], dict[str, Any]]:
    with mock_aws():
        session = boto3.session.Session()
        dynamodb, streams = session.client("dynamodb"), session.client("dynamodbstreams")
        stream_arn = dynamodb.create_table(**boto3_create_table_args(TABLE))["TableDescription"]["LatestStreamArn"]
        answers = _workload(dynamodb, seed)
        return answers, _observe(dynamodb, streams, stream_arn)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_moto_patches_queries_scans_and_stream_match_unpatched_moto(seed: int) -> None:
    # GIVEN the same writes on unpatched and on patched moto
    expected_answers, expected = _run(seed)
    with moto_patches.patched():
        answers, observed = _run(seed)
    # THEN every write answered alike, and every read returns the same items in the same order
    assert answers == expected_answers
    assert any(a == "transact:TransactionCanceledException" for a in answers)  # rollbacks were exercised
    assert observed.keys() == expected.keys()
    for name in expected:
        assert observed[name] == expected[name], name


def test_moto_patches_undo_restores_the_original_methods() -> None:
    from moto.dynamodb.models.table import Table

    original = Table.__dict__["query"]
    with moto_patches.patched():
        assert Table.__dict__["query"] is not original
    assert Table.__dict__["query"] is original
