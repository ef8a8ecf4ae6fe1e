"""The operator's replay tool: stuck RECEIVED transactions are re-driven through the analyzer."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from handler_support import TABLE, api_event, transaction_body

from functions.analyzer.handler import lambda_handler as analyzer_handler
from functions.analyzer.replay import replay, stream_event
from functions.common import items
from functions.processor.handler import lambda_handler as processor_handler


class InProcessLambda:
    """Stands in for `lambda.invoke`: runs the real analyzer handler on the payload."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.invocations: list[dict[str, Any]] = []

    def invoke(self, FunctionName: str, Payload: str) -> dict[str, Any]:  # boto3 keyword names
        event = json.loads(Payload)
        self.invocations.append(event)
        result = analyzer_handler(event, self.context)
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(result).encode())}


def _status(aws: dict[str, Any]) -> dict[str, str]:
    rows = aws["dynamodb"].scan(TableName=TABLE)["Items"]  # the test may scan; the tool must not
    return {r["transactionId"]["S"]: r["status"]["S"] for r in rows if "status" in r}


@pytest.fixture
def stuck(aws: dict[str, Any], lambda_context: Any) -> dict[str, Any]:
    # GIVEN three transactions the processor stored, of which the analyzer only ever saw one
    for n in (1, 2, 3):
        body = transaction_body(transactionId=f"tx-000{n}")
        assert processor_handler(api_event("POST", body), lambda_context)["statusCode"] == 201
    table = aws["session"].resource("dynamodb").Table(TABLE)
    first = table.query(
        KeyConditionExpression="transactionId = :id AND #ts > :zero",
        ExpressionAttributeNames={"#ts": "timestamp"},
        ExpressionAttributeValues={":id": "tx-0001", ":zero": 0},
    )["Items"]
    assert analyzer_handler(stream_event(first), lambda_context) == {"batchItemFailures": []}

    def refuse_scan(**_: Any) -> None:
        raise AssertionError("the replay tool must query the by-day index, never scan the table")

    table.meta.client.meta.events.register("before-call.dynamodb.Scan", refuse_scan)
    return {"table": table, "day": datetime.now(tz=UTC).date().isoformat()}


def test_replay_stuck_transactions_are_scored_once(aws, lambda_context, stuck):
    later = int(datetime.now(tz=UTC).timestamp() * 1000) + 60_000
    fake = InProcessLambda(lambda_context)
    # WHEN the operator replays the day
    counts = replay(stuck["table"], fake, "lambda-analyzer-test", stuck["day"], later, dry_run=False)
    # THEN the two stuck ones are found and scored in one batch, and nothing is left
    assert counts == {"found": 2, "failed": 0}
    assert len(fake.invocations) == 1 and len(fake.invocations[0]["Records"]) == 2
    assert set(_status(aws).values()) == {"SCORED"}
    assert replay(stuck["table"], fake, "lambda-analyzer-test", stuck["day"], later, dry_run=False) == {
        "found": 0,
        "failed": 0,
    }


def test_replay_skips_transactions_still_in_flight(aws, lambda_context, stuck):
    fake = InProcessLambda(lambda_context)
    long_ago = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp() * 1000)
    assert replay(stuck["table"], fake, "f", stuck["day"], long_ago, dry_run=False) == {"found": 0, "failed": 0}
    assert fake.invocations == []


def test_replay_dry_run_counts_without_invoking(aws, lambda_context, stuck):
    fake = InProcessLambda(lambda_context)
    later = int(datetime.now(tz=UTC).timestamp() * 1000) + 60_000
    assert replay(stuck["table"], fake, "f", stuck["day"], later, dry_run=True) == {"found": 2, "failed": 0}
    assert fake.invocations == []
    assert sorted(_status(aws).values()) == ["RECEIVED", "RECEIVED", "SCORED"]


def test_replay_event_carries_no_card_number():
    item = {"transactionId": "tx-9", "timestamp": 1, "cardLast4": "1111", "cardBin": "411111", "status": "RECEIVED"}
    record = stream_event([item])["Records"][0]
    assert record["eventName"] == "INSERT"
    assert items.deserialize(record["dynamodb"]["NewImage"]) == item
    assert "4111111111111111" not in json.dumps(record)
