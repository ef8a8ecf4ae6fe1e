"""Card numbers disguised as identifiers, field names or headers (issue 11, findings 2, 4, 7).

Random Luhn-valid 12-19 digit numbers in random disguises (Hypothesis, ``tests/support/pan_cases.py``)
in every identifier fraud-api stores or echoes: each is refused with a 400 naming the field and
never repeating the value. Then a sweep: no generated number in any table row or log line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraud_api.embedded_db import EmbeddedPostgres
from tests.api.utils import new_id, running_app, transaction
from tests.support.api_app import create_database, make_settings
from tests.support.pan_cases import ID_SEPARATORS, REFERENCE_SEPARATORS, disguised_pans, holds

_DISGUISES = settings(
    max_examples=60, database=None, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _assert_refused(response: Any, field: str, pan: str) -> None:
    assert response.status_code == 400, response.text
    problems = response.json()["problems"]
    assert [p["field"] for p in problems] == [field]
    assert "card number" in problems[0]["message"]
    assert not holds(response.text, pan)


def _exercise(client: TestClient, sent: list[str]) -> None:
    @_DISGUISES
    @given(
        st.sampled_from([("transactionId", ID_SEPARATORS), ("customerId", REFERENCE_SEPARATORS),
                         ("terminalId", REFERENCE_SEPARATORS)]).flatmap(
            lambda fs: disguised_pans(fs[1]).map(lambda case: (fs[0], *case))
        )
    )  # fmt: skip
    def score(case: tuple[str, str, str]) -> None:
        field, value, pan = case
        sent.append(pan)
        _assert_refused(client.post("/api/v1/score", json=transaction(**{field: value})), field, pan)

    score()

    @_DISGUISES
    @given(disguised_pans(ID_SEPARATORS))
    def feedback_and_decision(case: tuple[str, str]) -> None:
        value, pan = case
        sent.append(pan)
        body = {"transactionId": value, "fraud": True, "source": "chargeback"}
        _assert_refused(client.post("/api/v1/feedback", json=body), "transactionId", pan)
        _assert_refused(client.get(f"/api/v1/decisions/{value}"), "transactionId", pan)

    feedback_and_decision()

    @_DISGUISES
    @given(disguised_pans(ID_SEPARATORS + ".: "))
    def unknown_field_name(case: tuple[str, str]) -> None:
        # Finding 7: the name of an unknown field is never echoed, in feedback or in scoring.
        value, pan = case
        sent.append(pan)
        body = {"transactionId": "tx-1", "fraud": True, "source": "chargeback", value: 1}
        response = client.post("/api/v1/feedback", json=body)
        assert response.status_code == 400
        assert response.json()["problems"] == [
            {"field": "body", "message": "the 4th field is unknown; see the request schema for the allowed fields"}
        ]
        scored = client.post("/api/v1/score", json={**transaction(), value: 1})
        assert scored.status_code == 400 and [p["field"] for p in scored.json()["problems"]] == ["body"]
        assert not holds(response.text + scored.text, pan)

    unknown_field_name()


def test_disguised_card_numbers_are_refused_and_found_in_no_row_and_no_log(
    pg: EmbeddedPostgres, model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a service that received disguised card numbers in every identifier, beside valid traffic
    url = create_database(pg.uri, "pan_identifiers")
    sent: list[str] = []
    with running_app(make_settings(url, model_path, LOG_LEVEL="DEBUG")) as client:
        ok = transaction(transactionId=new_id(), customerId="cust-1001", terminalId="term:0042.7")
        assert client.post("/api/v1/score", json=ok).status_code == 200
        _exercise(client, sent)
    output = capsys.readouterr().out
    # WHEN every row of every table and every log line is searched for every number sent
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        rows = [str(r[0]) for t in tables for r in conn.execute(f"SELECT t::text FROM {t} t".encode())]
    # THEN none is there; the valid transaction (short identifiers) was stored as sent
    assert len(sent) >= 150 and output.count('"fraud_api.access"') >= 150
    assert len([r for r in rows if "cust-1001" in r]) == 1
    text = "\n".join(rows) + output
    assert [pan for pan in sent if holds(text, pan)] == []
