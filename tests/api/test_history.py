"""History read back from PostgreSQL: the windows the scorer needs, labels included, features used."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from fastapi.testclient import TestClient

from fraud_api.app import repository
from fraud_api.app.core.config import Settings
from fraud_scoring import HISTORY_DAYS, History, HistoryItem
from tests.api.utils import ago, iso, new_id, transaction


def _history(settings: Settings, customer: str, terminal: str, timestamp: float) -> History:
    """repository.fetch_history on its own async connection."""
    assert settings.DATABASE_URL is not None
    url = settings.DATABASE_URL.get_secret_value()

    async def fetch() -> History:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await repository.fetch_history(conn, customer, terminal, timestamp)

    return asyncio.run(fetch())


def _score(client: TestClient, **fields: object) -> str:
    body = transaction(**fields)
    response = client.post("/api/v1/score", json=body)
    assert response.status_code == 200, response.text
    return str(body["transactionId"])


def _label(client: TestClient, tx_id: str, fraud: bool, days_ago: float) -> None:
    body = {"transactionId": tx_id, "fraud": fraud, "source": "chargeback", "labelTime": iso(ago(days=days_ago))}
    assert client.post("/api/v1/feedback", json=body).status_code == 200


def test_fetch_history_returns_customer_and_terminal_windows_with_labels(
    client: TestClient, settings: Settings
) -> None:
    # GIVEN a customer and a terminal with transactions inside and outside the history window
    customer, terminal = new_id("cust"), new_id("term")
    at_terminal = _score(client, customerId=new_id("cust"), terminalId=terminal, timestamp=iso(ago(days=20)))
    own_1 = _score(client, customerId=customer, terminalId=new_id("term"), timestamp=iso(ago(days=3)))
    both = _score(client, customerId=customer, terminalId=terminal, timestamp=iso(ago(days=1)))
    _score(client, customerId=customer, timestamp=iso(ago(days=HISTORY_DAYS + 1)))  # too old
    _score(client, customerId=new_id("cust"), terminalId=new_id("term"), timestamp=iso(ago(days=2)))  # unrelated
    _label(client, at_terminal, True, days_ago=10)
    # WHEN the history of a transaction now is fetched
    now = ago(seconds=0).timestamp()
    history = _history(settings, customer, terminal, now)
    # THEN the customer side holds its two recent transactions, the terminal side its two, and the
    # terminal's label came with its label time (order is the scorer's business: it sorts); each
    # row has exactly HistoryItem's fields, in its order (the scorer reads them by position)
    assert {len(row) for row in history.customer + history.terminal} == {7}
    customer_side = sorted(map(HistoryItem._make, history.customer), key=lambda h: h.timestamp)
    terminal_side = sorted(map(HistoryItem._make, history.terminal), key=lambda h: h.timestamp)
    assert [h.transaction_id for h in customer_side] == [own_1, both]
    assert [h.transaction_id for h in terminal_side] == [at_terminal, both]
    labelled = terminal_side[0]
    assert labelled.fraud is True
    assert labelled.label_time == pytest.approx(ago(days=10).timestamp(), abs=5)
    assert customer_side[1].amount == 42.5 and customer_side[1].terminal_id == terminal
    assert customer_side[1].customer_id == customer and terminal_side[0].terminal_id == terminal
    assert terminal_side[1].fraud is None and terminal_side[1].label_time is None


def test_fetch_history_excludes_transactions_after_the_scored_one(client: TestClient, settings: Settings) -> None:
    # GIVEN a customer with transactions 5 and 1 days ago
    customer = new_id("cust")
    older = _score(client, customerId=customer, timestamp=iso(ago(days=5)))
    _score(client, customerId=customer, timestamp=iso(ago(days=1)))
    # WHEN the history is fetched for a (late-arriving) transaction 3 days ago
    history = _history(settings, customer, new_id("term"), ago(days=3).timestamp())
    # THEN only the earlier one is returned: no future data leaks into a score
    assert [HistoryItem._make(h).transaction_id for h in history.customer] == [older]
    assert history.terminal == ()


def test_score_customer_history_makes_an_outlier_amount_reviewed(client: TestClient) -> None:
    # GIVEN a card with six 20.00 payments over the last week
    customer = new_id("cust")
    for day in range(6, 0, -1):
        _score(client, customerId=customer, amount="20.00", timestamp=iso(ago(days=day)))
    # WHEN it pays 150.00 (the model alone approves amounts under 500)
    result = client.post("/api/v1/score", json=transaction(customerId=customer, amount="150.00")).json()
    # THEN the history read back triggers the amount-to-median rule: review, with the prior count
    assert result["decision"] == "review"
    assert any("7.5x the card's 30-day median (6 prior payments)" in r for r in result["reasons"])


def test_score_terminal_confirmed_fraud_streak_is_reviewed(client: TestClient) -> None:
    # GIVEN a terminal whose transactions 12 and 10 days ago were confirmed fraud 2 days ago
    terminal = new_id("term")
    for days in (12, 10):
        tx_id = _score(client, terminalId=terminal, timestamp=iso(ago(days=days)))
        _label(client, tx_id, True, days_ago=2)
    # WHEN a new transaction at that terminal is scored
    result = client.post("/api/v1/score", json=transaction(terminalId=terminal)).json()
    # THEN the labels (older than the 7-day delay, known before now) raise it to review
    assert result["decision"] == "review"
    assert any("terminal's latest confirmed transactions are fraud" in r for r in result["reasons"])


def test_score_terminal_streak_is_cleared_by_a_recent_payment_confirmed_legitimate(client: TestClient) -> None:
    # GIVEN a terminal whose transactions 12 and 10 days ago were confirmed fraud, then a payment there
    # 2 days ago that an analyst confirmed legitimate yesterday (too recent for the model's 7-day delay)
    terminal = new_id("term")
    for days in (12, 10):
        _label(client, _score(client, terminalId=terminal, timestamp=iso(ago(days=days))), True, days_ago=2)
    _label(client, _score(client, terminalId=terminal, timestamp=iso(ago(days=2))), False, days_ago=1)
    # WHEN a new transaction at that terminal is scored
    result = client.post("/api/v1/score", json=transaction(terminalId=terminal)).json()
    # THEN fraud-api reads that label for the rules: the streak rule is silent, the model alone approves
    assert result["decision"] == "approve"
    assert len(result["reasons"]) == 1


def test_score_fresh_chargeback_holds_the_terminal_at_once(client: TestClient) -> None:
    # GIVEN a terminal whose only fraud is 3 days old (younger than the model's 7-day label delay), confirmed
    # by a chargeback yesterday
    terminal = new_id("term")
    tx_id = _score(client, terminalId=terminal, timestamp=iso(ago(days=3)))
    _label(client, tx_id, True, days_ago=1)
    # WHEN a new transaction at that terminal is scored
    result = client.post("/api/v1/score", json=transaction(terminalId=terminal)).json()
    # THEN the model cannot use the label yet, but the terminal rule reads it: review
    assert result["decision"] == "review"
    expected = "terminal's latest confirmed transactions are fraud (run began 3 days ago"
    assert any(reason.startswith(expected) for reason in result["reasons"])


def test_history_query_is_two_index_only_scans(client: TestClient, settings: Settings) -> None:
    # GIVEN a vacuumed table (index-only scans need the visibility map; autovacuum keeps it set)
    _score(client, timestamp=iso(ago(days=2)))
    assert settings.DATABASE_URL is not None
    with psycopg.connect(settings.DATABASE_URL.get_secret_value(), autocommit=True) as conn:
        # ...with enough distinct customers and terminals that each index is the cheaper one for its
        # side: on a table of a few rows (this test run alone, or first) either index costs the same.
        conn.execute(
            "INSERT INTO transactions SELECT (jsonb_populate_record(NULL::transactions, to_jsonb(t)"
            " || jsonb_build_object('transaction_id', t.transaction_id || '-copy-' || g,"
            " 'customer_id', 'plan-cust-' || g, 'terminal_id', 'plan-term-' || g))).*"
            " FROM (SELECT * FROM transactions LIMIT 1) t, generate_series(1, 500) g"
        )
        conn.execute("VACUUM ANALYZE transactions")
        # Planner settings that leave only index scans possible, so a tiny test table still shows
        # whether the indexes cover every column the history query reads.
        conn.execute("SET enable_seqscan = off")
        conn.execute("SET enable_bitmapscan = off")
        params = {"customer": "cust-x", "terminal": "term-x", "since": 0.0, "until": 2e9}
        plan = "\n".join(str(r[0]) for r in conn.execute(b"EXPLAIN " + repository._HISTORY_SQL.encode(), params))
    # THEN both sides are index-only scans on the covering indexes: no heap page per history row
    assert "Index Only Scan using transactions_customer_ts" in plan
    assert "Index Only Scan using transactions_terminal_ts" in plan
