"""The operator's replay tool: stuck RECEIVED transactions are re-driven through the analyzer."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from handler_support import TABLE, api_event, iso, transaction_body

from functions.analyzer import replay as replay_module
from functions.analyzer.handler import lambda_handler as analyzer_handler
from functions.analyzer.replay import replay, stream_event, stuck_items
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


class _PagedTable:
    """A by-day index whose first shard holds ``items``, one per page (a busy day spans many pages)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.first_shard: str | None = None

    def query(self, **kwargs: Any) -> dict[str, Any]:
        shard = kwargs["ExpressionAttributeValues"][":day"]
        self.first_shard = self.first_shard or shard
        if shard != self.first_shard:
            return {"Items": []}
        start = kwargs.get("ExclusiveStartKey", {"n": 0})["n"]
        page: dict[str, Any] = {"Items": self.items[start : start + 1]}
        if start + 1 < len(self.items):
            page["LastEvaluatedKey"] = {"n": start + 1}
        return page


def test_replay_follows_every_page_of_a_shard():
    # GIVEN three stuck items served one per page
    table = _PagedTable([{"transactionId": f"tx-{n}"} for n in range(3)])
    # WHEN the day's stuck items are listed
    found = list(stuck_items(table, "2026-11-21", 0))
    # THEN every page was read, in order
    assert [item["transactionId"] for item in found] == ["tx-0", "tx-1", "tx-2"]


class _FailingLambda(InProcessLambda):
    """The analyzer function itself fails (timeout, crash): Lambda reports a FunctionError."""

    def invoke(self, FunctionName: str, Payload: str) -> dict[str, Any]:  # boto3 keyword names
        self.invocations.append({"FunctionName": FunctionName, **json.loads(Payload)})
        return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(b'{"errorMessage": "boom"}')}


def _store_aged(lambda_context: Any, ages_s: dict[str, int]) -> str:
    """Store transactions whose timestamps are ``ages_s`` seconds old; the day of the oldest."""
    now_ms = int(datetime.now(tz=UTC).timestamp() * 1000)
    for transaction_id, age_s in ages_s.items():
        body = transaction_body(transactionId=transaction_id, timestamp=iso(now_ms - age_s * 1000))
        assert processor_handler(api_event("POST", body), lambda_context)["statusCode"] == 201
    return iso(now_ms - max(ages_s.values()) * 1000)[:10]


def _lambda_factory(monkeypatch: pytest.MonkeyPatch, fake: Any) -> None:
    def lambda_only(service: str) -> Any:
        assert service == "lambda"
        return fake

    monkeypatch.setattr(replay_module.boto3, "client", lambda_only)


def test_replay_cli_replays_what_is_older_than_15_minutes_by_default(aws, lambda_context, monkeypatch, capsys):
    # GIVEN one transaction 15.5 minutes old and one 14 minutes old (maybe still in flight)
    day = _store_aged(lambda_context, {"tx-old": 930, "tx-young": 840})
    fake = InProcessLambda(lambda_context)
    _lambda_factory(monkeypatch, fake)
    capsys.readouterr()
    # WHEN the operator runs the tool without --older-than-minutes
    code = replay_module.main(["--table", TABLE, "--function", "lambda-analyzer-test", "--date", day])
    # THEN only the old one is replayed, the counts are printed and the exit status is 0
    assert code == 0
    assert capsys.readouterr().out.endswith('\n{"found": 1, "failed": 0}\n')
    assert [r["eventID"] for event in fake.invocations for r in event["Records"]] == ["replay-tx-old"]
    assert _status(aws) == {"tx-old": "SCORED", "tx-young": "RECEIVED"}


def test_replay_cli_exits_1_when_the_analyzer_still_fails(aws, lambda_context, monkeypatch, capsys):
    # GIVEN transactions 101 and 98 minutes old, and an analyzer function that crashes
    day = _store_aged(lambda_context, {"tx-old": 6060, "tx-young": 5880})
    fake = _FailingLambda(lambda_context)
    _lambda_factory(monkeypatch, fake)
    capsys.readouterr()
    # WHEN the operator replays what is older than 100 minutes
    args = ["--table", TABLE, "--function", "fn-x", "--date", day, "--older-than-minutes", "100"]
    code = replay_module.main(args)
    # THEN the old one was sent to that function, counted as failed, and the exit status says so
    assert code == 1
    assert capsys.readouterr().out == '{"found": 1, "failed": 1}\n'
    assert [(e["FunctionName"], [r["eventID"] for r in e["Records"]]) for e in fake.invocations] == [
        ("fn-x", ["replay-tx-old"])
    ]


def test_replay_cli_dry_run_invokes_nothing(aws, lambda_context, monkeypatch, capsys):
    day = _store_aged(lambda_context, {"tx-old": 1200})
    fake = InProcessLambda(lambda_context)
    _lambda_factory(monkeypatch, fake)
    capsys.readouterr()
    code = replay_module.main(["--table", TABLE, "--function", "f", "--date", day, "--dry-run"])
    assert (code, capsys.readouterr().out) == (0, '{"found": 1, "failed": 0}\n')
    assert fake.invocations == []


def test_replay_cli_help_and_usage_errors_guide_the_operator(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "200")  # one help line per option
    # WHEN the operator asks for help
    with pytest.raises(SystemExit) as shown:
        replay_module.main(["--help"])
    # THEN the tool says what it does and what each option means
    text = " ".join(capsys.readouterr().out.split())
    assert shown.value.code == 0
    for expected in (
        "Re-drive transactions the analyzer never scored (an operator tool, not a Lambda handler).",
        "--table TABLE the transactions table, e.g. transactions-prod",
        "--function FUNCTION the analyzer function, e.g. lambda-analyzer-prod",
        "--date DATE UTC day, YYYY-MM-DD",
        "--older-than-minutes OLDER_THAN_MINUTES skip items younger than this (still in flight)",
        "--dry-run count the stuck items, invoke nothing",
    ):
        assert expected in text
    # (the description is the docstring's first paragraph only, not the whole module text)
    assert "stream records expire" not in text
    # AND the required options, and a date that does not exist, are refused with exit status 2
    for argv, error in (
        ([], "the following arguments are required: --table, --function, --date"),
        (["--table", "t", "--function", "f", "--date", "2026-02-30"], "argument --date: invalid fromisoformat value"),
    ):
        with pytest.raises(SystemExit) as refused:
            replay_module.main(argv)
        assert refused.value.code == 2
        assert error in capsys.readouterr().err


def test_replay_event_is_the_stream_record_the_analyzer_expects():
    # GIVEN two stuck items / WHEN wrapped for the analyzer
    event = stream_event([{"transactionId": "tx-a", "timestamp": 5}, {"transactionId": "tx-b", "timestamp": 6}])
    # THEN each is an INSERT record with its keys, image and a sequence number in batch order
    assert event["Records"][1] == {
        "eventID": "replay-tx-b",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"transactionId": {"S": "tx-b"}, "timestamp": {"N": "6"}},
            "NewImage": {"transactionId": {"S": "tx-b"}, "timestamp": {"N": "6"}},
            "SequenceNumber": "replay000001",
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    assert event["Records"][0]["dynamodb"]["SequenceNumber"] == "replay000000"


class _ScriptedLambda:
    """Answers each invocation in turn: a crash, partial failures, an empty payload."""

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.answers = answers
        self.batches: list[tuple[str, int]] = []

    def invoke(self, FunctionName: str, Payload: str) -> dict[str, Any]:  # boto3 keyword names
        self.batches.append((FunctionName, len(json.loads(Payload)["Records"])))
        return self.answers[len(self.batches) - 1]


def test_replay_sends_batches_of_100_and_sums_the_failures():
    # GIVEN 250 stuck items (numbers as the table returns them: Decimal)
    table = _PagedTable([{"transactionId": f"tx-{n}", "timestamp": Decimal(n + 1)} for n in range(250)])
    fake = _ScriptedLambda(
        [
            {"Payload": io.BytesIO(b'{"batchItemFailures": [{"itemIdentifier": "1"}, {"itemIdentifier": "2"}]}')},
            {"FunctionError": "Unhandled", "Payload": io.BytesIO(b'{"errorMessage": "boom"}')},
            {"Payload": io.BytesIO(b"")},
        ]
    )
    # WHEN they are replayed, and counted in a dry run
    counts = replay(table, fake, "fn-y", "2026-11-21", 10**13, dry_run=False)
    dry = replay(table, fake, "fn-y", "2026-11-21", 10**13, dry_run=True)
    # THEN three invocations of that function; a crashed batch fails whole, otherwise its reported records
    assert fake.batches == [("fn-y", 100), ("fn-y", 100), ("fn-y", 50)]
    assert counts == {"found": 250, "failed": 102}
    assert dry == {"found": 250, "failed": 0}
