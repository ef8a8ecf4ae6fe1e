"""Processor handler: POST /transactions and GET /transactions/{id} against moto DynamoDB."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from handler_support import (
    DROP,
    MASTERCARD,
    PAN_HASH_KEY,
    TABLE,
    VISA,
    api_event,
    dump_table,
    find_pans,
    iso,
    pans_in_items,
    transaction_body,
)
from hypothesis import HealthCheck, given, settings

from fraud_common.transaction import MAX_BODY_BYTES
from functions.common.observability import logger
from functions.processor import api
from functions.processor.handler import lambda_handler
from tests.support.pan_cases import ID_SEPARATORS, REFERENCE_SEPARATORS, disguised_pans, holds


def _post(ctx: Any, body: Any, headers: dict[str, str] | None = None, **kw: Any) -> dict[str, Any]:
    return lambda_handler(api_event("POST", body, headers=headers, **kw), ctx)


def _transactions(aws: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in dump_table(aws["dynamodb"], TABLE) if i["timestamp"]["N"] != "0"]


def _assert_no_pan_anywhere(aws: dict[str, Any], logs: Any, *responses: dict[str, Any]) -> None:
    assert pans_in_items(dump_table(aws["dynamodb"], TABLE)) == []
    assert find_pans(logs.getvalue()) == []
    for response in responses:
        assert find_pans(json.dumps(response)) == []


def test_processor_post_valid_transaction_stores_masked_item(aws, logs, lambda_context):
    # GIVEN a valid transaction with a spaced card number
    body = transaction_body()
    # WHEN it is posted
    response = _post(lambda_context, body)
    # THEN it is stored once, RECEIVED, with the index attributes and no card number
    assert response["statusCode"] == 201
    assert json.loads(response["body"])["transactionId"] == "tx-0001"
    assert response["headers"]["Location"] == "/transactions/tx-0001"
    [item] = _transactions(aws)
    assert item["status"] == {"S": "RECEIVED"}
    assert item["amount"] == {"N": "42.50"}
    assert item["cardBin"] == {"S": "411111"} and item["cardLast4"] == {"S": "1111"}
    assert item["dayShard"]["S"].startswith(body["timestamp"][:10])
    assert {"customerId", "terminalId", "currency", "channel", "merchantCategoryCode", "receivedAt"} <= item.keys()
    _assert_no_pan_anywhere(aws, logs, response)


def test_processor_post_card_hash_is_hmac_of_full_pan(aws, lambda_context):
    # GIVEN / WHEN a transaction is stored
    _post(lambda_context, transaction_body(cardNumber=MASTERCARD))
    # THEN the card hash is the keyed HMAC of the whole PAN, never a plain SHA-256
    [item] = _transactions(aws)
    expected = hmac.new(PAN_HASH_KEY.encode(), MASTERCARD.encode(), hashlib.sha256).hexdigest()
    assert item["cardHash"]["S"] == expected
    assert item["cardHash"]["S"] != hashlib.sha256(MASTERCARD.encode()).hexdigest()
    assert item["cardKeyVersion"] == {"S": "1"}


def _one_day_ago() -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(tz=UTC) - timedelta(days=1)).isoformat()


BAD_BODIES = {
    "missing_fields": (transaction_body(customerId=DROP, cardNumber=DROP), {"customerId", "cardNumber"}),
    "wrong_types": (transaction_body(amount=True, customerId=7, channel=["pos"]), {"amount", "customerId", "channel"}),
    "luhn_invalid_pan": (transaction_body(cardNumber="4111111111111112"), {"cardNumber"}),
    "short_pan": (transaction_body(cardNumber="41111111"), {"cardNumber"}),
    "cvv_present": (transaction_body(cvv="123"), {"body"}),
    "track_and_pin_present": (transaction_body(track2=";4111=2512?", pinBlock="1234"), {"body"}),
    "negative_amount": (transaction_body(amount=-5), {"amount"}),
    "zero_amount": (transaction_body(amount="0.00"), {"amount"}),
    "three_decimals": (transaction_body(amount=10.125), {"amount"}),
    "yen_with_decimals": (transaction_body(amount="10.50", currency="JPY"), {"amount"}),
    "too_large_amount": (transaction_body(amount=1_000_000.01), {"amount"}),
    "unknown_currency": (transaction_body(currency="ABC"), {"currency"}),
    "future_timestamp": (transaction_body(timestamp="2099-01-01T00:00:00Z"), {"timestamp"}),
    "naive_timestamp": (transaction_body(timestamp="2026-01-01T00:00:00"), {"timestamp"}),
    "unicode_ids": (transaction_body(customerId="клиент-1", terminalId="端末"), {"customerId", "terminalId"}),
    "unicode_digits_pan": (transaction_body(cardNumber="٤١١١١١١١١١١١١١١١"), {"cardNumber"}),
    "unknown_field": (transaction_body(expiry="12/29"), {"body"}),
    "pan_as_customer_id": (transaction_body(customerId=VISA), {"customerId"}),
    "bad_channel": (transaction_body(channel="carrier-pigeon"), {"channel"}),
    "bad_mcc": (transaction_body(merchantCategoryCode="54"), {"merchantCategoryCode"}),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_processor_post_invalid_body_returns_400_listing_fields(aws, logs, lambda_context, case):
    # GIVEN a body with one or more problems
    body, fields = BAD_BODIES[case]
    # WHEN it is posted
    response = _post(lambda_context, body)
    # THEN 400 names every bad field, nothing is stored, and no PAN leaks anywhere
    assert response["statusCode"] == 400
    problems = json.loads(response["body"])["problems"]
    assert {p["field"] for p in problems} == fields
    assert _transactions(aws) == []
    _assert_no_pan_anywhere(aws, logs, response)


RAW_BODIES = {
    "not_json": "{not json",
    "json_array": "[1, 2]",
    "json_string": '"hello"',
    "empty": "",
    "oversized": json.dumps(transaction_body(notes="x" * MAX_BODY_BYTES)),
    "deeply_nested": "[" * 50_000,
    "duplicate_keys": '{"amount": 1, "amount": 2}',
    "nan_amount": json.dumps(transaction_body()).replace('"42.50"', "NaN"),
}


@pytest.mark.parametrize("case", sorted(RAW_BODIES))
def test_processor_post_malformed_body_returns_400(aws, logs, lambda_context, case):
    # GIVEN a body that is not a usable JSON object / WHEN posted
    response = _post(lambda_context, RAW_BODIES[case])
    # THEN the client gets a 400 (never a 5xx) and nothing is stored
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"] == "invalid_transaction"
    assert _transactions(aws) == []
    _assert_no_pan_anywhere(aws, logs, response)


def test_processor_post_reports_every_problem_at_once(aws, lambda_context):
    # GIVEN a body with five independent problems
    body = transaction_body(amount="-1", currency="eurx", cardNumber="1234", cvc2="999", timestamp="yesterday")
    # WHEN posted
    response = _post(lambda_context, body)
    # THEN all five are listed (the forbidden cvc2 by position, never by its client-chosen name)
    fields = [p["field"] for p in json.loads(response["body"])["problems"]]
    assert sorted(fields) == ["amount", "body", "cardNumber", "currency", "timestamp"]


def test_processor_post_base64_utf8_body_is_accepted(aws, lambda_context):
    # GIVEN a base64-encoded body (binary media type) with a non-ASCII but ignorable character
    raw = json.dumps(transaction_body(), ensure_ascii=False).replace("pos", "pos").encode("utf-8")
    # WHEN posted
    response = _post(lambda_context, base64.b64encode(raw).decode(), base64=True)
    # THEN it is stored
    assert response["statusCode"] == 201


def test_processor_post_invalid_base64_returns_400(aws, lambda_context):
    response = _post(lambda_context, "%%%not-base64", base64=True)
    assert response["statusCode"] == 400


def test_processor_post_base64_with_characters_outside_the_alphabet_returns_400(aws, lambda_context):
    # GIVEN a valid body, base64-encoded, with a character no base64 alphabet has inserted
    encoded = base64.b64encode(json.dumps(transaction_body()).encode()).decode()
    tampered = encoded[:8] + "*" + encoded[8:]
    # WHEN posted THEN it is not valid base64 (a lenient decoder would drop the "*" and store it)
    response = _post(lambda_context, tampered, base64=True)
    assert json.loads(response["body"])["problems"] == [{"field": "body", "message": "is not valid base64"}]
    assert _transactions(aws) == []


def test_processor_post_header_value_that_is_not_text_counts_as_absent(aws, lambda_context):
    # GIVEN a hand-made event whose Idempotency-Key is a number (API Gateway sends only strings)
    event = api_event("POST", transaction_body())
    event["headers"]["Idempotency-Key"] = 12345
    # WHEN handled THEN it is stored as if sent without a key
    response = lambda_handler(event, lambda_context)
    assert response["statusCode"] == 201, response["body"]


def test_processor_post_is_judged_and_stamped_by_one_clock_reading(aws, lambda_context, monkeypatch):
    # GIVEN the processor's clock two days ahead of this machine's, and a transaction made just
    # before that moment (in the future by this machine's clock)
    ahead_ms = (int(datetime.now(tz=UTC).timestamp()) + 2 * 86_400) * 1000  # whole seconds: exact as a float
    monkeypatch.setattr(api, "time", SimpleNamespace(time=lambda: ahead_ms / 1000))
    # WHEN posted
    response = _post(lambda_context, transaction_body(timestamp=iso(ahead_ms - 60_000)))
    # THEN the timestamp is checked against the same reading that stamps receivedAt
    assert response["statusCode"] == 201, response["body"]
    received_at = datetime.fromisoformat(json.loads(response["body"])["receivedAt"])
    assert received_at == datetime.fromtimestamp(ahead_ms / 1000, tz=UTC)


def test_processor_post_duplicate_id_replays_without_second_item(aws, logs, lambda_context):
    # GIVEN a stored transaction
    body = transaction_body()
    first = _post(lambda_context, body)
    # WHEN the identical request is sent again
    second = _post(lambda_context, body)
    # THEN the same response comes back, flagged as a replay, and there is still one item
    assert second["statusCode"] == 201
    assert json.loads(second["body"]) == json.loads(first["body"])
    assert second["headers"]["Idempotent-Replayed"] == "true"
    assert len(_transactions(aws)) == 1
    _assert_no_pan_anywhere(aws, logs, first, second)


@pytest.mark.parametrize(
    "change",
    [{"amount": "99.99"}, {"cardNumber": MASTERCARD}, {"timestamp": _one_day_ago()}],
    ids=["amount", "card", "timestamp"],
)
def test_processor_post_same_id_different_payload_returns_409(aws, lambda_context, change):
    # GIVEN a stored transaction
    body = transaction_body()
    _post(lambda_context, body)
    # WHEN the same id arrives with a different payload (even a different timestamp = sort key)
    response = _post(lambda_context, {**body, **change})
    # THEN it is refused and no second item exists
    assert response["statusCode"] == 409
    assert len(_transactions(aws)) == 1


def test_processor_post_idempotency_key_replays_and_guards_reuse(aws, lambda_context):
    # GIVEN a request stored under an Idempotency-Key
    headers = {"Idempotency-Key": "key-123"}
    body = transaction_body()
    first = _post(lambda_context, body, headers)
    # WHEN it is retried with the same key, then the key is reused for another transaction
    replay = _post(lambda_context, body, {"idempotency-key": "key-123"})
    reuse = _post(lambda_context, {**body, "transactionId": "tx-0002"}, headers)
    # THEN the retry replays, the reuse conflicts, and only the first transaction exists
    assert first["statusCode"] == 201 and replay["statusCode"] == 201
    assert replay["headers"]["Idempotent-Replayed"] == "true"
    assert reuse["statusCode"] == 409
    assert [i["transactionId"]["S"] for i in _transactions(aws)] == ["tx-0001"]


def test_processor_post_malformed_idempotency_key_returns_400(aws, lambda_context):
    response = _post(lambda_context, transaction_body(amount="-1"), {"Idempotency-Key": "bad key!"})
    assert response["statusCode"] == 400
    fields = {p["field"] for p in json.loads(response["body"])["problems"]}
    assert fields == {"Idempotency-Key", "amount"}


def test_processor_get_returns_masked_record(aws, logs, lambda_context):
    # GIVEN a stored transaction
    _post(lambda_context, transaction_body())
    # WHEN it is read back
    response = lambda_handler(api_event("GET", transaction_id="tx-0001"), lambda_context)
    # THEN the record is returned with the card masked and without the card hash
    assert response["statusCode"] == 200
    record = json.loads(response["body"])
    assert record["card"] == {"bin": "411111", "last4": "1111", "masked": "411111******1111"}
    assert record["status"] == "RECEIVED" and record["amount"] == "42.50"
    assert "cardHash" not in response["body"] and "score" not in record
    _assert_no_pan_anywhere(aws, logs, response)


def test_processor_get_unknown_id_returns_404(aws, lambda_context):
    response = lambda_handler(api_event("GET", transaction_id="tx-missing"), lambda_context)
    assert response["statusCode"] == 404


@pytest.mark.parametrize("bad_id", ["has space", "x" * 65, "semi;colon", ""])
def test_processor_get_malformed_id_returns_400(aws, lambda_context, bad_id):
    response = lambda_handler(api_event("GET", transaction_id=bad_id), lambda_context)
    assert response["statusCode"] == 400


def test_processor_unknown_route_and_method_are_4xx(aws, lambda_context):
    # GIVEN a wrong method on a known route and an unknown route / WHEN called
    wrong_method = lambda_handler(api_event("DELETE", transaction_id="tx-1"), lambda_context)
    other = lambda_handler({**api_event("GET"), "resource": "/other", "path": "/other"}, lambda_context)
    # THEN 405 and 404
    assert wrong_method["statusCode"] == 405
    assert other["statusCode"] == 404


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT"])
def test_processor_collection_answers_405_to_anything_but_post(aws, lambda_context, method):
    response = lambda_handler(api_event(method, transaction_body()), lambda_context)
    assert (response["statusCode"], json.loads(response["body"])) == (
        405,
        {"error": "method_not_allowed", "message": "use POST"},
    )
    assert _transactions(aws) == []


def test_processor_get_takes_the_id_from_path_parameters_behind_a_custom_domain(aws, lambda_context):
    # GIVEN a stored transaction, read through a custom domain with a base path mapping: API Gateway
    # then puts the base path in "path" ("/fraud/transactions/..."), while "resource" and
    # "pathParameters" stay those of the API's own route
    _post(lambda_context, transaction_body(transactionId="tx-domain"))
    event = {**api_event("GET", transaction_id="tx-domain"), "path": "/fraud/transactions/tx-domain"}
    # WHEN handled THEN the id comes from pathParameters
    response = lambda_handler(event, lambda_context)
    assert (response["statusCode"], json.loads(response["body"])["transactionId"]) == (200, "tx-domain")


@pytest.mark.parametrize("path", ["/transactionsX", "/transactions-x", "/transactions/a/b", "/", ""])
def test_processor_hand_made_event_on_a_path_that_is_not_a_route_is_404(aws, lambda_context, path):
    event = {**api_event("POST", transaction_body()), "resource": None, "path": path}
    response = lambda_handler(event, lambda_context)
    assert (response["statusCode"], json.loads(response["body"])) == (
        404,
        {"error": "not_found", "message": "no such route"},
    )
    assert _transactions(aws) == []


def test_processor_post_secret_unreadable_returns_503(aws, logs, lambda_context, monkeypatch):
    # GIVEN the configuration secret cannot be read
    monkeypatch.setenv("API_CONFIG_SECRET_ARN", "arn:aws:secretsmanager:us-east-2:123456789012:secret:missing")
    # WHEN a valid transaction is posted
    response = _post(lambda_context, transaction_body())
    # THEN it is a server-side 503 and nothing is stored
    assert response["statusCode"] == 503
    assert _transactions(aws) == []
    _assert_no_pan_anywhere(aws, logs, response)


def test_processor_post_reads_secret_once_per_cache_period(aws, lambda_context):
    # GIVEN a warm function that counts Secrets Manager reads
    from functions.common.aws import client

    calls: list[str] = []
    client("secretsmanager").meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: calls.append("get")
    )
    # WHEN three transactions are posted
    for n in range(3):
        _post(lambda_context, transaction_body(transactionId=f"tx-{n}"))
    # THEN the secret was read once
    assert calls == ["get"]


def test_processor_logs_carry_correlation_id_and_no_body(aws, logs, lambda_context):
    # GIVEN / WHEN a transaction is posted
    _post(lambda_context, transaction_body())
    # THEN log lines are JSON with the API Gateway request id and never the body
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert lines and all(line.get("correlation_id") == "req-0001" for line in lines)
    assert "cardNumber" not in logs.getvalue() and iso(0) not in logs.getvalue()


def test_processor_logs_start_each_invocation_without_keys_an_earlier_one_appended(aws, logs, lambda_context):
    # GIVEN a key appended by an earlier invocation in this process (local mode runs every handler in
    # one process on one logger: the rotator appends its step)
    logger.append_keys(rotation_step="finishSecret")
    # WHEN a transaction is posted
    _post(lambda_context, transaction_body())
    # THEN its log lines carry their own keys only
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert lines and not any("rotation_step" in line for line in lines)


# Card numbers disguised as identifiers (issue 11, findings 2-4): every identifier field and the
# Idempotency-Key header, random Luhn-valid 12-19 digit numbers in random disguises.
_DISGUISES = settings(
    max_examples=60, database=None, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_FIELD_SEPARATORS = {
    "transactionId": ID_SEPARATORS,
    "customerId": REFERENCE_SEPARATORS,
    "terminalId": REFERENCE_SEPARATORS,
}


def _assert_refused_without_trace(response: dict[str, Any], field: str, pan: str, aws: Any, logs: Any) -> None:
    assert response["statusCode"] == 400
    problems = json.loads(response["body"])["problems"]
    assert [p["field"] for p in problems] == [field]
    assert "card number" in problems[0]["message"]
    assert not holds(json.dumps(response), pan)
    assert not holds(json.dumps(dump_table(aws["dynamodb"], TABLE)), pan)
    assert not holds(logs.getvalue(), pan)


@pytest.mark.parametrize("field", sorted(_FIELD_SEPARATORS))
def test_processor_post_disguised_card_number_in_an_identifier_is_refused_naming_the_field(
    aws, logs, lambda_context, field
):
    @_DISGUISES
    @given(disguised_pans(_FIELD_SEPARATORS[field]))
    def check(case: tuple[str, str]) -> None:
        value, pan = case
        # GIVEN a valid transaction whose identifier hides a card number / WHEN posted
        response = _post(lambda_context, transaction_body(**{field: value}))
        # THEN 400 names the field, never repeats the value; nothing stored or logged holds it
        _assert_refused_without_trace(response, field, pan, aws, logs)

    check()
    assert _transactions(aws) == []


def test_processor_post_disguised_card_number_in_idempotency_key_is_refused(aws, logs, lambda_context):
    @_DISGUISES
    @given(disguised_pans(ID_SEPARATORS))
    def check(case: tuple[str, str]) -> None:
        value, pan = case
        response = _post(lambda_context, transaction_body(transactionId="tx-key"), {"Idempotency-Key": value})
        _assert_refused_without_trace(response, "Idempotency-Key", pan, aws, logs)

    check()
    assert dump_table(aws["dynamodb"], TABLE) == []


@pytest.mark.parametrize("value", ["tx-4111111111111111", "c:4111111111111111", "41111111.11111111", "411111111117"])
def test_processor_post_issue_examples_as_customer_id_are_refused(aws, logs, lambda_context, value):
    # The probe's own examples, the 12-digit Maestro length included (finding 4).
    response = _post(lambda_context, transaction_body(customerId=value))
    _assert_refused_without_trace(response, "customerId", value.replace(".", "").split(":")[-1][-12:], aws, logs)


def test_processor_post_idempotency_key_is_stored_as_a_keyed_hash(aws, lambda_context):
    # GIVEN a request with an Idempotency-Key
    body = transaction_body()
    response = _post(lambda_context, body, {"Idempotency-Key": "order-7731"})
    assert response["statusCode"] == 201
    # THEN its marker id is the HMAC-SHA256 of the key under card-hash key version 1, never the key
    ids = [item["transactionId"]["S"] for item in dump_table(aws["dynamodb"], TABLE)]
    digest = hmac.new(PAN_HASH_KEY.encode(), b"idempotency-key\x00order-7731", hashlib.sha256).hexdigest()
    assert f"idempotency-key#1#{digest}" in ids
    assert not any("order-7731" in i for i in ids)
    # AND the key still replays
    again = _post(lambda_context, body, {"Idempotency-Key": "order-7731"})
    assert (again["statusCode"], again["headers"].get("Idempotent-Replayed")) == (201, "true")


def test_processor_get_disguised_card_number_as_id_is_refused(aws, logs, lambda_context):
    response = lambda_handler(api_event("GET", transaction_id="tx-4111111111111111"), lambda_context)
    _assert_refused_without_trace(response, "id", VISA, aws, logs)


def test_processor_twelve_digit_card_number_is_accepted_and_never_logged(aws, logs, lambda_context):
    # GIVEN a 12-digit (Maestro length) card number, also logged by mistake in a handler
    response = _post(lambda_context, transaction_body(cardNumber="411111111117"))
    logger.info("card %s", "411111111117", extra={"note": "411111111117"})
    # THEN it is accepted, masked in storage and in every log line
    assert response["statusCode"] == 201
    assert not holds(logs.getvalue(), "411111111117")
    assert not holds(json.dumps(dump_table(aws["dynamodb"], TABLE)), "411111111117")


# What clients and operators rely on beyond the status code: exact bodies and headers, metrics, log lines.
_BASE_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_ID_RULE = "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'"
_CARD_RULE = (
    "must not contain a card number (12-19 digits passing the Luhn check, in one piece or in groups, "
    "alone or inside other text)"
)


def _emf(capsys: Any) -> dict[str, tuple[str, list[float]]]:
    """Metric name -> (unit, values of every invocation) from the EMF lines the handler flushed to stdout."""
    found: dict[str, tuple[str, list[float]]] = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith('{"_aws"'):
            blob = json.loads(line)
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    name, unit = metric["Name"], metric["Unit"]
                    found[name] = (unit, found.get(name, (unit, []))[1] + blob[name])
    return found


def _log_lines(logs: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in logs.getvalue().splitlines()]


def _fail_dynamodb_call(operation: str, code: str) -> None:
    """Make the processor's next DynamoDB ``operation`` fail with the AWS error ``code``."""
    from botocore.exceptions import ClientError

    from functions.common.aws import client

    def fail(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)

    client("dynamodb").meta.events.register(f"before-call.dynamodb.{operation}", fail)


def test_processor_post_answers_compact_json_that_no_cache_keeps(aws, logs, lambda_context, capsys):
    # GIVEN the clock around a POST
    from datetime import UTC, datetime

    before = datetime.now(tz=UTC)
    capsys.readouterr()
    # WHEN a valid transaction is posted
    response = _post(lambda_context, transaction_body())
    after = datetime.now(tz=UTC)
    # THEN the whole answer is fixed: headers, compact body, receivedAt = the time it arrived
    received_at = json.loads(response["body"])["receivedAt"]
    assert response == {
        "statusCode": 201,
        "headers": {**_BASE_HEADERS, "Location": "/transactions/tx-0001"},
        "body": f'{{"transactionId":"tx-0001","status":"RECEIVED","receivedAt":"{received_at}"}}',
        "isBase64Encoded": False,
    }
    assert received_at.endswith("Z") and len(received_at) == len("2026-11-21T10:15:00.123Z")
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= datetime.fromisoformat(received_at)
    assert datetime.fromisoformat(received_at) <= after
    assert _transactions(aws)[0]["receivedAt"] == {"S": received_at}
    # AND one TransactionsReceived metric and one log line say so
    assert _emf(capsys) == {"TransactionsReceived": ("Count", [1.0])}
    assert [(line["message"], line["transaction_id"]) for line in _log_lines(logs)] == [
        ("transaction stored", "tx-0001")
    ]


def test_processor_post_replay_answers_the_original_body_flagged(aws, logs, lambda_context, capsys):
    # GIVEN a stored transaction
    body = transaction_body()
    first = _post(lambda_context, body, {"Idempotency-Key": "order-9"})
    capsys.readouterr()
    logs.truncate(0)
    logs.seek(0)
    # WHEN the identical request is retried under its key
    replay = _post(lambda_context, body, {"Idempotency-Key": "order-9"})
    # THEN the original body comes back with Location and the replay flag, counted and logged
    assert replay["headers"] == {**_BASE_HEADERS, "Location": "/transactions/tx-0001", "Idempotent-Replayed": "true"}
    assert replay["body"] == first["body"]
    assert _emf(capsys) == {"IdempotentReplays": ("Count", [1.0])}
    assert [(line["message"], line["transaction_id"]) for line in _log_lines(logs)] == [
        ("idempotent replay", "tx-0001")
    ]


def test_processor_post_conflicts_name_what_was_reused(aws, logs, lambda_context, capsys):
    # GIVEN a transaction stored under an Idempotency-Key
    body = transaction_body()
    _post(lambda_context, body, {"Idempotency-Key": "order-1"})
    capsys.readouterr()
    # WHEN the id is reused for another payload, and the key for another transaction
    id_reuse = _post(lambda_context, {**body, "amount": "43.00"})
    key_reuse = _post(lambda_context, {**body, "transactionId": "tx-0002"}, {"Idempotency-Key": "order-1"})
    # THEN each 409 says which one, both are counted and logged with the reason
    assert json.loads(id_reuse["body"]) == {
        "error": "conflict",
        "message": "transactionId was already used for a different transaction",
    }
    assert json.loads(key_reuse["body"]) == {
        "error": "conflict",
        "message": "Idempotency-Key was already used for a different request",
    }
    assert id_reuse["headers"] == key_reuse["headers"] == _BASE_HEADERS
    assert _emf(capsys) == {"TransactionConflicts": ("Count", [1.0, 1.0])}
    conflicts = [line for line in _log_lines(logs) if line["message"] == "transaction conflict"]
    assert [(c["transaction_id"], c["reason"]) for c in conflicts] == [
        ("tx-0001", "transactionId was already used for a different transaction"),
        ("tx-0002", "Idempotency-Key was already used for a different request"),
    ]


@pytest.mark.parametrize("code", ["TransactionCanceledException", "TransactionConflictException"])
def test_processor_post_while_an_identical_request_is_in_flight_asks_to_retry(aws, lambda_context, code):
    # GIVEN DynamoDB refuses the write because a concurrent first attempt holds the items
    _fail_dynamodb_call("TransactWriteItems", code)
    # WHEN the request is posted (with a key: neither marker is committed yet)
    response = _post(lambda_context, transaction_body(), {"Idempotency-Key": "order-2"})
    # THEN 409 asks the client to retry shortly
    assert response["statusCode"] == 409
    assert json.loads(response["body"]) == {
        "error": "conflict",
        "message": "a request with this transactionId is being processed; retry shortly",
    }


@pytest.mark.parametrize(
    "code",
    ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "InternalServerError"],
)
def test_processor_dynamodb_throttled_or_down_answers_503_retry_after(aws, logs, lambda_context, capsys, code):
    # GIVEN DynamoDB answers a retryable error on writes and reads
    _fail_dynamodb_call("TransactWriteItems", code)
    _fail_dynamodb_call("Query", code)
    capsys.readouterr()
    # WHEN a transaction is posted and one is read
    responses = [
        _post(lambda_context, transaction_body()),
        lambda_handler(api_event("GET", transaction_id="tx-1"), lambda_context),
    ]
    # THEN both are 503 with Retry-After, counted as processor errors, logged as a warning with the code
    for response in responses:
        assert response["statusCode"] == 503
        assert response["headers"] == {**_BASE_HEADERS, "Retry-After": "1"}
        assert json.loads(response["body"]) == {"error": "unavailable", "message": "retry later"}
    assert _emf(capsys) == {"ProcessorErrors": ("Count", [1.0, 1.0]), "TransactionLookups": ("Count", [1.0])}
    warnings = [line for line in _log_lines(logs) if line["level"] == "WARNING"]
    assert [(w["message"], w["error_code"]) for w in warnings] == [("DynamoDB throttled or unavailable", code)] * 2


def test_processor_unexpected_dynamodb_error_answers_500(aws, logs, lambda_context, capsys):
    # GIVEN DynamoDB refuses the write for a reason retrying cannot fix
    _fail_dynamodb_call("TransactWriteItems", "ValidationException")
    capsys.readouterr()
    # WHEN a transaction is posted
    response = _post(lambda_context, transaction_body())
    # THEN 500 without details, a processor error metric and an error log line
    assert (response["statusCode"], response["headers"]) == (500, _BASE_HEADERS)
    assert json.loads(response["body"]) == {"error": "internal_error", "message": "internal error"}
    assert _emf(capsys) == {"ProcessorErrors": ("Count", [1.0])}
    assert [(line["level"], line["message"]) for line in _log_lines(logs)] == [("ERROR", "unexpected error")]


def test_processor_configuration_unavailable_answers_503_and_alerts(aws, logs, lambda_context, capsys, monkeypatch):
    # GIVEN the configuration secret cannot be read
    monkeypatch.setenv("API_CONFIG_SECRET_ARN", "arn:aws:secretsmanager:us-east-2:123456789012:secret:missing")
    capsys.readouterr()
    # WHEN a valid transaction is posted
    response = _post(lambda_context, transaction_body())
    # THEN the client is told to retry later; operators get a metric and an error line
    assert response["headers"] == _BASE_HEADERS
    assert json.loads(response["body"]) == {"error": "unavailable", "message": "temporarily unavailable; retry later"}
    assert _emf(capsys) == {"ProcessorErrors": ("Count", [1.0])}
    assert [(line["level"], line["message"]) for line in _log_lines(logs)] == [
        ("ERROR", "API configuration unavailable")
    ]


def test_processor_wrong_method_or_route_bodies_say_what_to_use(aws, lambda_context):
    # GIVEN / WHEN the wrong method on each route, and a resource that is not ours on a path that is
    on_collection = lambda_handler(api_event("GET"), lambda_context)
    on_item = lambda_handler(api_event("POST", transaction_id="tx-1"), lambda_context)
    foreign = lambda_handler({**api_event("POST", transaction_body()), "resource": "/other"}, lambda_context)
    # THEN 405 names the allowed method, and the foreign resource is 404 (its path is not trusted)
    assert json.loads(on_collection["body"]) == {"error": "method_not_allowed", "message": "use POST"}
    assert json.loads(on_item["body"]) == {"error": "method_not_allowed", "message": "use GET"}
    assert (foreign["statusCode"], json.loads(foreign["body"])) == (
        404,
        {"error": "not_found", "message": "no such route"},
    )


def test_processor_hand_made_events_route_by_path(aws, lambda_context):
    # GIVEN events without "resource" (local gateway, tests), the method in lower case
    post = {**api_event("post", transaction_body()), "resource": None, "path": "/transactions/"}
    get = {**api_event("GET", transaction_id="tx-0001"), "resource": None, "pathParameters": None}
    get_no_id = {**api_event("GET", transaction_id="tx-0001"), "pathParameters": None, "path": "/elsewhere"}
    # WHEN they are handled
    created = lambda_handler(post, lambda_context)
    read = lambda_handler(get, lambda_context)
    unreadable = lambda_handler(get_no_id, lambda_context)
    # THEN the path decides the route and the id; an item route without any id is a 400 on "id"
    assert created["statusCode"] == 201
    assert (read["statusCode"], json.loads(read["body"])["transactionId"]) == (200, "tx-0001")
    assert json.loads(unreadable["body"])["problems"] == [{"field": "id", "message": _ID_RULE}]


def test_processor_get_answers_name_the_problem_and_count_lookups(aws, lambda_context, capsys):
    capsys.readouterr()
    # GIVEN / WHEN a malformed id, a card number as id, and an unknown id are read
    malformed = lambda_handler(api_event("GET", transaction_id="a b"), lambda_context)
    card = lambda_handler(api_event("GET", transaction_id="tx-4111111111111111"), lambda_context)
    unknown = lambda_handler(api_event("GET", transaction_id="tx-missing"), lambda_context)
    # THEN 400s name the rule, 404 says so, and only the lookup that reached DynamoDB is counted
    assert json.loads(malformed["body"]) == {
        "error": "invalid_request",
        "problems": [{"field": "id", "message": _ID_RULE}],
    }
    assert json.loads(card["body"])["problems"] == [{"field": "id", "message": _CARD_RULE}]
    assert (unknown["statusCode"], json.loads(unknown["body"])) == (
        404,
        {"error": "not_found", "message": "no transaction with this id"},
    )
    assert _emf(capsys)["TransactionLookups"] == ("Count", [1.0])


def test_processor_post_idempotency_key_problems_come_first_and_alone(aws, logs, lambda_context, capsys):
    capsys.readouterr()
    # GIVEN / WHEN a malformed key with a bad body, a malformed key with a good one, a card number as key
    both = _post(lambda_context, transaction_body(amount="-1"), {"Idempotency-Key": "bad key!"})
    key_only = _post(lambda_context, transaction_body(), {"Idempotency-Key": "bad key!"})
    card = _post(lambda_context, transaction_body(), {"Idempotency-Key": "k-4111111111111111"})
    # THEN the key's problem is listed first, a good body is not stored under a bad key
    key_problem = {"field": "Idempotency-Key", "message": f"header {_ID_RULE}"}
    assert [p["field"] for p in json.loads(both["body"])["problems"]] == ["Idempotency-Key", "amount"]
    assert json.loads(both["body"])["problems"][0] == key_problem
    assert json.loads(key_only["body"]) == {"error": "invalid_transaction", "problems": [key_problem]}
    assert json.loads(card["body"])["problems"] == [{"field": "Idempotency-Key", "message": f"header {_CARD_RULE}"}]
    assert _transactions(aws) == []
    # AND each rejection is counted and logged with the fields and fixed messages only
    assert _emf(capsys) == {"TransactionsRejected": ("Count", [1.0, 1.0, 1.0])}
    rejected = [line["problems"] for line in _log_lines(logs) if line["message"] == "transaction rejected"]
    assert rejected[1] == [["Idempotency-Key", f"header {_ID_RULE}"]]
    assert len(rejected) == 3


def test_processor_post_null_idempotency_key_header_counts_as_absent(aws, lambda_context):
    # GIVEN a hand-made event whose Idempotency-Key header is null / WHEN posted
    response = lambda_handler(
        {**api_event("POST", transaction_body()), "headers": {"Idempotency-Key": None}}, lambda_context
    )
    # THEN it is stored without a key marker
    assert response["statusCode"] == 201
    assert [i["transactionId"]["S"] for i in dump_table(aws["dynamodb"], TABLE)] == ["tx-0001", "tx-0001"]


def test_processor_post_body_that_is_not_text_is_refused(aws, lambda_context):
    # GIVEN a hand-made event whose body is an already-decoded object, and one without a body
    as_object = lambda_handler({**api_event("POST"), "body": transaction_body()}, lambda_context)
    missing = _post(lambda_context, None)
    # THEN both are 400 naming the body; nothing is stored
    assert json.loads(as_object["body"])["problems"] == [{"field": "body", "message": "must be a JSON object"}]
    assert json.loads(missing["body"])["problems"] == [{"field": "body", "message": "is empty; send a JSON object"}]
    assert _transactions(aws) == []


@pytest.mark.parametrize(
    ("length", "message"),
    [
        (21_848, "is 16386 bytes; the limit is 16384 bytes"),  # decoded, then measured
        (21_849, "is not valid base64"),  # the largest length not refused unread
        (21_850, "is larger than the limit of 16384 bytes"),  # refused before decoding
    ],
)
def test_processor_post_base64_body_size_is_checked_before_decoding(aws, lambda_context, length, message):
    # GIVEN a base64 body around 16 KiB * 4/3 characters / WHEN posted
    response = _post(lambda_context, "A" * length, base64=True)
    # THEN the largest bodies are refused without being decoded
    assert json.loads(response["body"])["problems"] == [{"field": "body", "message": message}]


def test_processor_reads_markers_and_transactions_strongly_consistent(aws, lambda_context):
    # GIVEN a recorder of the processor's DynamoDB reads
    from functions.common.aws import client

    reads: list[tuple[str, Any]] = []
    for operation in ("GetItem", "Query"):
        client("dynamodb").meta.events.register(
            f"provide-client-params.dynamodb.{operation}",
            lambda params, op=operation, **_: reads.append((op, params.get("ConsistentRead"))),
        )
    # WHEN a retry is resolved and the transaction read back right after the write
    body = transaction_body()
    _post(lambda_context, body, {"Idempotency-Key": "order-3"})
    retry = _post(lambda_context, body, {"Idempotency-Key": "order-3"})
    lambda_handler(api_event("GET", transaction_id="tx-0001"), lambda_context)
    # THEN the retry is replayed, and every read is strongly consistent: an eventually consistent one
    # may miss the write (the id and key markers, the transaction each points at, then the GET)
    assert retry["statusCode"] == 201 and json.loads(retry["body"])["transactionId"] == "tx-0001"
    assert reads == [("GetItem", True)] * 4 + [("Query", True)]
