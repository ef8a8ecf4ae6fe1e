"""PCI DSS 3.3/3.4/3.5: the card number appears in no table row, no server log and no log line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fraud_api.embedded_db import EmbeddedPostgres
from fraud_common.card import luhn_valid
from tests.api.utils import OTHER_PAN, TEST_PAN, ago, iso, running_app, transaction
from tests.support.api_app import create_database, make_settings

PAN_FORMS = ("4111 1111 1111 1111", "4111-1111-1111-1111", TEST_PAN)


class RawRecords(logging.Handler):
    """Keeps every record as rendered *before* any redaction (it sits before the app's handler)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("httpx"):
            return  # the test client's own request log, not the service's
        extras = {
            k: v
            for k, v in record.__dict__.items()
            if k not in logging.LogRecord("", 0, "", 0, "", None, None).__dict__
        }
        text = record.getMessage() + " " + json.dumps(extras, default=str)
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(text)


@pytest.fixture
def raw_records() -> Iterator[RawRecords]:
    handler = RawRecords()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


def _exercise(url: str, model_path: Path) -> None:
    """Every path a card number can travel: valid, invalid, conflicting, labelled, read back."""
    with running_app(make_settings(url, model_path, LOG_LEVEL="DEBUG")) as client:
        ids = []
        for form in PAN_FORMS:
            body = transaction(cardNumber=form, timestamp=iso(ago(days=9)))
            assert client.post("/api/v1/score", json=body).status_code == 200
            ids.append(body["transactionId"])
        client.post("/api/v1/score", json={**transaction(transactionId=ids[0]), "cardNumber": OTHER_PAN})  # 409
        client.post("/api/v1/score", json=transaction(cardNumber=TEST_PAN, cvv="123", pan=TEST_PAN))  # 400
        client.post("/api/v1/score", json=transaction(customerId=TEST_PAN, terminalId=TEST_PAN))  # 400
        client.post("/api/v1/score", json=transaction(cardNumber=TEST_PAN[:-1] + "2"))  # 400, Luhn
        client.post("/api/v1/score", content=f'{{"cardNumber": "{TEST_PAN}", '.encode())  # 400, broken JSON
        client.post("/api/v1/feedback", json={"transactionId": ids[0], "fraud": True, "source": "chargeback"})
        client.post("/api/v1/feedback", json={"transactionId": TEST_PAN, "fraud": True, "source": "chargeback"})
        client.get(f"/api/v1/decisions/{ids[0]}")
        client.get(f"/api/v1/decisions/{TEST_PAN}")
        client.get("/api/v1/decisions/x", headers={"X-Request-Id": TEST_PAN})
        client.get(f"/api/unrouted/{TEST_PAN}")  # 404: the access log has no route template


def _contains_pan(text: str) -> bool:
    digits_only = "".join(ch for ch in text if ch.isdigit() or ch in " -\n")
    return any(form in text for form in PAN_FORMS) or OTHER_PAN in text or TEST_PAN in digits_only.replace(" ", "")


def test_pan_absent_from_every_table_row_and_server_log(pg: EmbeddedPostgres, model_path: Path) -> None:
    # GIVEN a service that handled the test PAN in every way a client can send it
    url = create_database(pg.uri, "pan_sweep")
    _exercise(url, model_path)
    # WHEN every row of every table is read as text
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        dump = {t: [r[0] for r in conn.execute(f"SELECT t::text FROM {t} t".encode())] for t in tables}
    # THEN no row holds the PAN, while the card is there as BIN + last four
    assert {"transactions", "schema_migrations"} <= set(dump)
    assert len(dump["transactions"]) == 3
    for table, rows in dump.items():
        for row in rows:
            assert not _contains_pan(row), f"PAN found in {table}: row redacted"
    assert all("411111" in row and "1111" in row for row in dump["transactions"])
    # AND neither does the PostgreSQL server log
    server_log = (pg.data_dir / "log").read_text(encoding="utf-8", errors="replace")
    assert not _contains_pan(server_log)


def test_pan_absent_from_log_records_and_json_output(
    pg: EmbeddedPostgres, model_path: Path, raw_records: RawRecords, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the same traffic, with DEBUG logging and a capture of records before redaction
    _exercise(create_database(pg.uri, "pan_logs"), model_path)
    output = capsys.readouterr().out
    lines = [line for line in output.splitlines() if line.startswith("{")]
    # THEN the service logged (access lines with request ids) but never the PAN: not even in a
    # record before redaction (the code never tries), nor in any emitted JSON line
    assert sum('"fraud_api.access"' in line for line in lines) >= 12
    assert raw_records.lines
    for line in raw_records.lines:
        assert not _contains_pan(line), "a log record carried the PAN before redaction"
    for line in lines:
        entry = json.loads(line)
        assert not _contains_pan(line)
        assert not any(luhn_valid(token) for token in line.replace('"', " ").split() if len(token) >= 13)
        if entry.get("logger") == "fraud_api.access":  # metric (EMF) lines have no logger
            assert entry["request_id"] and entry["request_id"] != TEST_PAN
