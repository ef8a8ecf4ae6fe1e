"""Both paths end to end through the local gateway, then a sweep for card numbers over everything.

One local mode for the module (test model: amount <= 500 approve, <= 1000 review, above
decline). The sweep runs after the module's last test, whatever the order, over what every test
made the system write.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from fraud_common.card import contains_pan
from fraud_local.aws import client
from fraud_local.demo import run_demo
from fraud_local.stack import LocalStack, StackHandles
from fraud_local.traffic import build_traffic
from tests.e2e.support import (
    AMEX,
    MASTERCARD,
    SENT_PANS,
    VISA,
    count_sources,
    gateway,
    iso,
    pan_sweep,
    pans_in,
    transaction,
    wait_for,
    wait_scored,
    yesterday_noon,
)


def test_pan_sweep_oracle_finds_plain_grouped_and_embedded_card_numbers() -> None:
    # The sweep at the end is only as good as this: it must see a card number in any spelling.
    assert pans_in(f"x {VISA} y") == [VISA]
    assert pans_in("card 4111 1111 1111 1111 and 5555-5555-5555-4444") == [VISA, MASTERCARD]
    assert pans_in(f'{{"n":"9{AMEX}9"}}') == [AMEX]
    assert pans_in("411111******1111 and 1795306017140") == []


def test_ingestion_post_then_get_returns_the_transaction_with_the_card_masked(handles: StackHandles) -> None:
    # GIVEN a transaction with a card number written in groups
    body = transaction(card="4111 1111 1111 1111")
    with gateway(handles) as api:
        # WHEN it is posted and read back
        created = api.post("/transactions", json=body)
        read = api.get(f"/transactions/{body['transactionId']}")
    # THEN it is stored once and shown with BIN and last four only
    assert created.status_code == 201, created.text
    assert created.json() == {
        "transactionId": body["transactionId"],
        "status": "RECEIVED",
        "receivedAt": created.json()["receivedAt"],
    }
    assert created.headers["location"] == f"/transactions/{body['transactionId']}"
    assert read.status_code == 200
    view = read.json()
    assert view["card"] == {"bin": "411111", "last4": "1111", "masked": "411111******1111"}
    assert view["amount"] == "42.50" and view["customerId"] == body["customerId"]
    assert VISA not in read.text and "cardHash" not in view


def test_ingestion_analyzer_scores_the_transaction_and_get_shows_the_decision(handles: StackHandles) -> None:
    # GIVEN two stored transactions, a small one and one above the decline amount
    small, large = transaction(amount="42.50"), transaction(card=MASTERCARD, amount="2500.00")
    with gateway(handles) as api:
        for body in (small, large):
            assert api.post("/transactions", json=body).status_code == 201
        # WHEN the stream poller has fed them to the analyzer
        small_view, large_view = wait_scored(api, small["transactionId"]), wait_scored(api, large["transactionId"])
    # THEN each carries the decision of the test model and the model's version
    assert small_view["decision"] == "approve" and small_view["score"] < 0.5
    assert large_view["decision"] == "decline" and large_view["score"] > 0.85
    assert large_view["modelVersion"] == "test-amount-tree-1" and large_view["analyzedAt"]
    assert large_view["card"]["masked"] == "555555******4444"


def test_reporter_report_for_the_day_contains_the_declined_transaction(
    local_stack: LocalStack, handles: StackHandles
) -> None:
    # GIVEN a declined transaction of yesterday (the reporter reports whole past days only)
    body = transaction(card=AMEX, amount="1800.00", timestamp=iso(yesterday_noon()))
    with gateway(handles) as api:
        assert api.post("/transactions", json=body).status_code == 201
        wait_scored(api, body["transactionId"])
    # WHEN the reporter runs for that day
    result = local_stack.run_report(yesterday_noon().date())
    # THEN the day's report lists it, card masked, in S3 (SSE-KMS) and in the state folder's copy
    report = json.loads(result.json_path.read_text(encoding="utf-8"))
    flagged = {row["transactionId"]: row for row in report["flaggedTransactions"]}
    assert body["transactionId"] in flagged
    assert flagged[body["transactionId"]]["card"] == "378282*****0005"
    assert flagged[body["transactionId"]]["decision"] == "decline"
    assert report["date"] == yesterday_noon().date().isoformat() and report["totals"]["transactions"] >= 1
    s3 = client("s3", handles.aws_endpoint)
    key = result.summary["keys"][0]
    stored = s3.get_object(Bucket=handles.resources.reports_bucket, Key=key)
    assert stored["ServerSideEncryption"] == "aws:kms"
    assert json.loads(stored["Body"].read()) == report
    assert body["transactionId"] in result.local_paths[1].read_text(encoding="utf-8")  # the CSV


def test_realtime_score_through_the_gateway_answers_and_stores_the_decision_in_postgresql(
    handles: StackHandles,
) -> None:
    # GIVEN a transaction for the real-time path
    body = transaction(amount="700.00")
    with gateway(handles) as api:
        # WHEN it is scored through the gateway's /api/* proxy
        response = api.post("/api/v1/score", json=body)
    # THEN fraud-api answers with the decision, and PostgreSQL holds it without the card number
    assert response.status_code == 200, response.text
    assert response.json()["decision"] == "review" and response.json()["transactionId"] == body["transactionId"]
    assert response.headers["x-amzn-requestid"]
    with psycopg.connect(handles.database_uri) as conn:
        row = conn.execute(
            "SELECT decision, card_bin, card_last4, length(card_hash) FROM transactions WHERE transaction_id = %s",
            (body["transactionId"],),
        ).fetchone()
    assert row == ("review", "411111", "1111", 64)


@pytest.mark.parametrize("api_key", [None, "wrong-key-0123456789abcdef"], ids=["missing", "wrong"])
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/transactions"), ("GET", "/transactions/e2e-none"), ("POST", "/api/v1/score"), ("GET", "/api/health")],
)
def test_gateway_without_the_right_api_key_answers_403_forbidden_and_invokes_nothing(
    handles: StackHandles, api_key: str | None, method: str, path: str
) -> None:
    # GIVEN a request without the API key, or with another one
    body = transaction()
    with gateway(handles, api_key=api_key) as api:
        # WHEN it reaches the gateway
        response = api.request(method, path, json=body if method == "POST" else None)
    # THEN API Gateway's own answer comes back and nothing was stored
    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}
    with gateway(handles) as api:
        assert api.get(f"/transactions/{body['transactionId']}").status_code == 404


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("DELETE", "/transactions"), ("GET", "/api")])
def test_gateway_unknown_route_answers_403_missing_authentication_token(
    handles: StackHandles, method: str, path: str
) -> None:
    with gateway(handles) as api:
        response = api.request(method, path)
    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}


def test_poller_sends_a_poison_record_to_the_failure_queue_and_scores_the_others(
    local_stack: LocalStack, handles: StackHandles
) -> None:
    # GIVEN a stored item the analyzer cannot score (no amount), between two good transactions
    before, after = transaction(), transaction()
    poison_id = "e2e-poison-0001"
    timestamp_ms = int((datetime.now(tz=UTC) - timedelta(minutes=5)).timestamp() * 1000)
    with gateway(handles) as api:
        assert api.post("/transactions", json=before).status_code == 201
        client("dynamodb", handles.aws_endpoint).put_item(
            TableName=handles.resources.table_name,
            Item={
                "transactionId": {"S": poison_id},
                "timestamp": {"N": str(timestamp_ms)},
                "customerId": {"S": "cust-poison"},
                "terminalId": {"S": "term-poison"},
                "status": {"S": "RECEIVED"},
            },
        )
        assert api.post("/transactions", json=after).status_code == 201
        # WHEN the poller has delivered them, retried the failure and given up on it
        scored = [wait_scored(api, body["transactionId"]) for body in (before, after)]
        messages = wait_for(local_stack.failure_messages, timeout=60)
    poison = client("dynamodb", handles.aws_endpoint).get_item(
        TableName=handles.resources.table_name,
        Key={"transactionId": {"S": poison_id}, "timestamp": {"N": str(timestamp_ms)}},
    )["Item"]
    # THEN the good ones are scored and the poison record's coordinates are in the failure queue
    assert [view["decision"] for view in scored] == ["approve", "approve"]
    failed_keys = [record["keys"]["transactionId"]["S"] for message in messages for record in message["records"]]
    assert poison_id in failed_keys
    message = next(m for m in messages if poison_id in json.dumps(m["records"]))
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 4  # the first try and 3 retries
    assert message["DDBStreamBatchInfo"]["streamArn"] == handles.resources.stream_arn
    assert poison["status"] == {"S": "RECEIVED"}  # never scored, never half-written


def test_demo_replays_simulated_traffic_and_summarises_it_from_the_reports(handles: StackHandles) -> None:
    # GIVEN the simulator's traffic (its card numbers are swept for later)
    today = datetime.now(tz=UTC).date()
    SENT_PANS.update(body["cardNumber"] for body in build_traffic(60, 11, today).bodies)
    out = io.StringIO()
    # WHEN the demo replays 60 transactions through the gateway and reports every day
    summary = run_demo(handles, count=60, rate=200.0, seed=11, out=out)
    _DEMO_RAN.append(True)
    # THEN everything is stored and scored, and the summary agrees with the reports
    assert summary["sent"] == summary["stored"] == 60 and summary["rejected"] == 0
    assert summary["scored"] >= 60
    assert summary["caught"] <= min(summary["flagged"], summary["frauds"])
    kinds = summary["caught_by_kind"].values()
    assert sum(caught for caught, _ in kinds) == summary["caught"]
    assert sum(total for _, total in kinds) == summary["frauds"]
    text = out.getvalue()
    assert "Demo finished" in text and "frauds caught" in text and "precision" in text
    assert all(path.exists() for report in summary["reports"] for path in report.local_paths)


def test_demo_ids_are_never_read_as_card_numbers() -> None:
    # A demo id is "demo-<run>-<row>": a run part of digits would join the row number into a 12-digit
    # Luhn-valid "card number" (demo-123456-000009) and the gateway would refuse every tenth row.
    ids = [body["transactionId"] for body in build_traffic(60, 11, datetime.now(tz=UTC).date()).bodies]
    assert all(re.fullmatch(r"demo-[a-z]{6}-[0-9]{6}", tx_id) for tx_id in ids), ids[:3]
    assert not any(contains_pan(tx_id) for tx_id in ids)


_DEMO_RAN: list[bool] = []
"""Set by the demo test, so the sweep knows whether 60 more transactions and their reports exist."""


@pytest.fixture(scope="module", autouse=True)
def security_sweep_finds_no_full_card_number_anywhere_the_run_wrote(handles: StackHandles) -> Iterator[None]:
    """After the module's last test (random order: not at the end of the file) the sweep runs over
    what the tests that ran made the system store and log; a card number found fails the module."""
    yield
    # GIVEN everything the tests made the system store and log
    looked_at = count_sources(handles)
    assert looked_at["files"] >= 5
    if _DEMO_RAN:
        assert looked_at["dynamodb"] > 60 and looked_at["s3"] >= 2
        assert len(SENT_PANS) > 10
    # WHEN every item, object, message, row and file is searched for every card number sent
    found = pan_sweep(handles)
    # THEN none is there in clear
    assert found == {}
