"""Helpers of the end-to-end tier: transactions, waiting, and the PAN sweep over a local run."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
import psycopg

from fraud_common.card import random_letters
from fraud_local.aws import client
from fraud_local.stack import StackHandles

VISA = "4111111111111111"
MASTERCARD = "5555555555554444"
AMEX = "378282246310005"
SENT_PANS: set[str] = {VISA, MASTERCARD, AMEX}
"""Every card number the tier sends; the sweep looks for each of them everywhere."""


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def yesterday_noon() -> datetime:
    return datetime.now(tz=UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)


def transaction(card: str = VISA, **overrides: Any) -> dict[str, Any]:
    """A valid request body with fresh ids (the card is recorded for the sweep)."""
    SENT_PANS.add(card.replace(" ", ""))
    body: dict[str, Any] = {
        "transactionId": f"e2e-{random_letters(16)}",
        "timestamp": iso(datetime.now(tz=UTC) - timedelta(minutes=1)),
        "customerId": f"cust-{random_letters(8)}",
        "terminalId": f"term-{random_letters(8)}",
        "amount": "42.50",
        "currency": "EUR",
        "cardNumber": card,
        "merchantCategoryCode": "5411",
        "channel": "pos",
    }
    body.update(overrides)
    return body


class GatewayAddress(Protocol):
    @property
    def gateway_url(self) -> str: ...

    @property
    def api_key(self) -> str: ...


def gateway(handles: GatewayAddress, api_key: str | None = "valid") -> httpx.Client:
    """A client of the local gateway; ``api_key="valid"`` sends the stack's own key."""
    headers = {} if api_key is None else {"x-api-key": handles.api_key if api_key == "valid" else api_key}
    return httpx.Client(base_url=handles.gateway_url, headers=headers, timeout=30.0)


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2) -> Any:
    """The first truthy value of ``condition()``; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def wait_scored(api: httpx.Client, transaction_id: str, timeout: float = 60.0) -> dict[str, Any]:
    def scored() -> dict[str, Any] | None:
        view = api.get(f"/transactions/{transaction_id}").json()
        return view if view.get("status") == "SCORED" else None

    result: dict[str, Any] = wait_for(scored, timeout)
    return result


# --- the PAN sweep ---------------------------------------------------------------------------------


# A digit run that may hold a card number, written plain or in groups ("4111 1111 1111 1111").
_DIGIT_RUN = re.compile(r"[0-9][0-9 -]{11,}[0-9]")


def pans_in(text: str) -> list[str]:
    hits: set[str] = set()
    for run in _DIGIT_RUN.findall(text):
        squeezed = run.replace(" ", "").replace("-", "")
        if len(squeezed) >= 13:
            hits.update(pan for pan in SENT_PANS if pan in squeezed)
    return sorted(hits)


def _dynamodb_items(handles: StackHandles) -> Iterator[str]:
    dynamodb = client("dynamodb", handles.aws_endpoint)
    params: dict[str, Any] = {"TableName": handles.resources.table_name}
    while True:
        page = dynamodb.scan(**params)  # tests may Scan; the code under test never does
        yield from (json.dumps(item) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _s3_objects(handles: StackHandles) -> Iterator[str]:
    s3 = client("s3", handles.aws_endpoint)
    for bucket in s3.list_buckets()["Buckets"]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for entry in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket["Name"], Key=entry["Key"])["Body"].read()
                yield f"s3://{bucket['Name']}/{entry['Key']} " + body.decode("utf-8", "replace")


def _queue_messages(handles: StackHandles) -> Iterator[str]:
    sqs = client("sqs", handles.aws_endpoint)
    for url in sqs.list_queues().get("QueueUrls", []):
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
            "Messages", []
        ):
            yield message["Body"]


def _postgres_rows(handles: StackHandles) -> Iterator[str]:
    with psycopg.connect(handles.database_uri, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        for (table,) in tables:
            # Every column of every row, as text.
            for (row,) in conn.execute(f"SELECT t::text FROM {table} t".encode()).fetchall():
                yield f"{table} {row}"


def _files(root: Path) -> Iterator[str]:
    """Every file the run wrote under the state folder, logs and PostgreSQL's own files included."""
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_socket():
            yield f"{path} " + path.read_bytes().decode("latin-1")


def pan_sweep(handles: StackHandles) -> dict[str, list[str]]:
    """Where each sent card number occurs in clear: ``{place: [pan, ...]}`` (empty when none)."""
    found: dict[str, list[str]] = {}
    sources = {
        "dynamodb": _dynamodb_items(handles),
        "s3": _s3_objects(handles),
        "sqs": _queue_messages(handles),
        "postgresql": _postgres_rows(handles),
        "files": _files(handles.state_dir),
    }
    for place, texts in sources.items():
        for text in texts:
            hits = pans_in(text)
            if hits:
                found.setdefault(f"{place}: {text[:120]}", hits)
    return found


def count_sources(handles: StackHandles) -> dict[str, int]:
    """How much the sweep read from each place (proves it looked at something)."""
    return {
        "dynamodb": sum(1 for _ in _dynamodb_items(handles)),
        "s3": sum(1 for _ in _s3_objects(handles)),
        "postgresql": sum(1 for _ in _postgres_rows(handles)),
        "files": sum(1 for _ in _files(handles.state_dir)),
    }
