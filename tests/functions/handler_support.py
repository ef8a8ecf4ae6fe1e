"""Test data and helpers shared by the handler tests (events, PAN scanning, table dumps)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeSerializer

TABLE = "transactions-test"
BUCKET = "reports-test"
SECRET_NAME = "api-config-test"
STREAM_ARN = "arn:aws:dynamodb:us-east-2:123456789012:table/transactions-test/stream/2026-11-21T00:00:00.000"
VISA = "4111111111111111"
MASTERCARD = "5555555555554444"
AMEX = "378282246310005"
PANS = (VISA, MASTERCARD, AMEX)
SIGNING_KEY = "s" * 64
PAN_HASH_KEY = "p" * 64
CONFIG: dict[str, Any] = {
    "thresholds": {"review": 0.5, "decline": 0.85},
    "signingKey": SIGNING_KEY,
    "panHashKeys": {"1": PAN_HASH_KEY},
    "panHashKeyVersion": "1",
}

_serializer = TypeSerializer()
# Deliberately independent of fraud_common.card: the oracle must not share the code under test.
_CANDIDATE = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")


def _luhn(digits: str) -> bool:
    total = 0
    for i, d in enumerate(int(c) for c in reversed(digits)):
        total += d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2)
    return total % 10 == 0


def find_pans(text: str) -> list[str]:
    """Every Luhn-valid 13-19 digit run in ``text`` (spaces/hyphens allowed), plus the test PANs."""
    found = [m.group(0) for m in _CANDIDATE.finditer(text) if _luhn(re.sub(r"[ -]", "", m.group(0)))]
    squeezed = re.sub(r"[ -]", "", text)
    found += [pan for pan in PANS if pan in squeezed]
    return found


def pans_in_items(raw_items: list[dict[str, Any]]) -> list[str]:
    """PANs in stored items: every string value is scanned; numbers (epoch-ms timestamps are
    13 digits and may pass Luhn) are only compared with the test PANs."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for kind, inner in value.items():
                if kind == "N":
                    found.extend(pan for pan in PANS if pan in str(inner))
                else:
                    walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)
        elif isinstance(value, str):
            found.extend(find_pans(value))

    for item in raw_items:
        for name, value in item.items():
            found.extend(find_pans(name))
            walk(value)
    return found


def iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def transaction_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "transactionId": "tx-0001",
        "timestamp": iso(int(datetime.now(tz=UTC).timestamp() * 1000) - 60_000),
        "customerId": "cust-1",
        "terminalId": "term-1",
        "amount": "42.50",
        "currency": "EUR",
        "cardNumber": "4111 1111 1111 1111",
        "merchantCategoryCode": "5411",
        "channel": "pos",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not _DROP}


_DROP = object()
DROP: Any = _DROP
"""Pass as an override to remove a field from ``transaction_body``."""


def api_event(
    method: str = "POST",
    body: str | dict[str, Any] | None = None,
    *,
    transaction_id: str | None = None,
    headers: dict[str, str] | None = None,
    base64: bool = False,
) -> dict[str, Any]:
    """An API Gateway REST proxy event for the processor's two routes."""
    text = json.dumps(body) if isinstance(body, dict) else body
    resource = "/transactions/{id}" if transaction_id is not None else "/transactions"
    path = f"/transactions/{transaction_id}" if transaction_id is not None else "/transactions"
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "pathParameters": {"id": transaction_id} if transaction_id is not None else None,
        "requestContext": {"requestId": "req-0001", "resourcePath": resource, "httpMethod": method, "stage": "test"},
        "body": text,
        "isBase64Encoded": base64,
    }


def stream_record(item: dict[str, Any], *, sequence: str, event_name: str = "INSERT") -> dict[str, Any]:
    """A DynamoDB stream record (NEW_AND_OLD_IMAGES) for ``item`` (python values)."""
    image = {k: _serializer.serialize(v) for k, v in item.items()}
    return {
        "eventID": f"event-{sequence}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-2",
        "dynamodb": {
            "Keys": {k: image[k] for k in ("transactionId", "timestamp") if k in image},
            "NewImage": image,
            "SequenceNumber": sequence,
            "SizeBytes": 256,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": STREAM_ARN,
    }


def dump_table(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    """Every raw item of the table (tests may Scan; the code under test must not)."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"TableName": table}
    while True:
        page = dynamodb.scan(**params)
        found += page["Items"]
        if "LastEvaluatedKey" not in page:
            return found
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def put_transaction_item(aws: dict[str, Any], transaction_id: str = "tx-0001") -> str:
    """A transaction item as the processor stores it, at a fixed time (2026-01-10T12:00:00Z): a
    POST would refuse a timestamp more than a year old once this date has passed."""
    aws["dynamodb"].put_item(
        TableName=TABLE,
        Item={
            "transactionId": {"S": transaction_id},
            "timestamp": {"N": "1768046400000"},
            "customerId": {"S": "cust-1"},
            "terminalId": {"S": "term-1"},
            "dayShard": {"S": "2026-01-10#3"},
            "amount": {"N": "42.50"},
            "currency": {"S": "EUR"},
            "channel": {"S": "pos"},
            "cardHash": {"S": "0" * 64},
            "cardKeyVersion": {"S": "1"},
            "cardBin": {"S": "411111"},
            "cardLast4": {"S": "1111"},
            "status": {"S": "RECEIVED"},
            "receivedAt": {"S": "2026-01-10T12:00:01.000Z"},
        },
    )
    return transaction_id
