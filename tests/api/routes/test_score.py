"""POST /api/v1/score: decisions, storage, idempotency, validation."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fraud_api.app import repository
from fraud_api.app.api import errors
from fraud_api.app.core.config import Settings
from fraud_api.app.scoring import ScoringService
from fraud_common.card import card_hash
from fraud_scoring import Scorer
from tests.api.utils import OTHER_PAN, TEST_PAN, ago, iso, new_id, query, running_app, transaction
from tests.support.api_app import API_CONFIG, MODEL_VERSION, PAN_KEY, make_settings


def _stored(settings: Settings, transaction_id: str) -> dict[str, Any]:
    assert settings.DATABASE_URL is not None
    rows = query(
        settings.DATABASE_URL.get_secret_value(),
        "SELECT row_to_json(t)::text FROM transactions t WHERE transaction_id = %s",
        (transaction_id,),
    )
    assert len(rows) == 1
    stored: dict[str, Any] = json.loads(rows[0][0])
    return stored


def test_score_small_amount_approves_and_stores_decision(client: TestClient, settings: Settings) -> None:
    # GIVEN a valid transaction for a new customer and terminal
    body = transaction(amount="42.50")
    # WHEN it is scored
    response = client.post("/api/v1/score", json=body)
    # THEN the answer carries the decision, and the row holds the transaction and the decision
    assert response.status_code == 200
    result = response.json()
    assert set(result) == {"transactionId", "score", "decision", "reasons", "modelVersion"}
    assert result["transactionId"] == body["transactionId"]
    assert result["decision"] == "approve"
    assert 0.0 <= result["score"] < 0.3
    assert result["modelVersion"] == MODEL_VERSION
    assert result["reasons"] and "review threshold" in result["reasons"][0]
    assert "Idempotent-Replayed" not in response.headers
    row = _stored(settings, body["transactionId"])
    assert row["decision"] == "approve"
    assert row["score"] == result["score"]
    assert row["reasons"] == result["reasons"]
    assert row["rule_ids"] == []  # no rule fired: an empty array, not NULL or a placeholder
    assert row["amount"] == 42.5
    assert (row["customer_id"], row["terminal_id"], row["currency"]) == (
        body["customerId"],
        body["terminalId"],
        "EUR",
    )


def test_score_amount_bands_give_review_and_decline(client: TestClient) -> None:
    # GIVEN the test model's amount bands and thresholds review 0.3 / decline 0.8
    # WHEN a mid and a large amount are scored
    review = client.post("/api/v1/score", json=transaction(amount="750.00")).json()
    decline = client.post("/api/v1/score", json=transaction(amount="5000")).json()
    # THEN they are sent to review and declined, with the threshold named in the reasons
    assert review["decision"] == "review"
    assert "review threshold 0.30" in review["reasons"][0]
    assert decline["decision"] == "decline"
    assert "decline threshold 0.80" in decline["reasons"][0]


def test_score_decides_by_the_thresholds_of_the_api_configuration(settings: Settings) -> None:
    # GIVEN thresholds in the API configuration that differ from the scorer's own defaults (0.3 / 0.8)
    assert settings.DATABASE_URL is not None and settings.MODEL_PATH is not None
    config = {**API_CONFIG, "thresholds": {"review": 0.6, "decline": 0.97}}
    with running_app(
        make_settings(settings.DATABASE_URL.get_secret_value(), settings.MODEL_PATH, API_CONFIG_JSON=json.dumps(config))
    ) as configured:
        # WHEN a mid amount (test model score 0.5) and a large one (0.953) are scored
        mid = configured.post("/api/v1/score", json=transaction(amount="750.00")).json()
        large = configured.post("/api/v1/score", json=transaction(amount="5000")).json()
    # THEN the configured cut-offs decide: approve below 0.6, review below 0.97, each named
    assert (mid["decision"], mid["reasons"]) == ("approve", ["model score 0.500 < review threshold 0.60"])
    assert (large["decision"], large["reasons"]) == ("review", ["model score 0.953 >= review threshold 0.60"])


def test_score_card_stored_as_keyed_hash_bin_and_last4_only(client: TestClient, settings: Settings) -> None:
    # GIVEN a transaction paid with the test PAN
    body = transaction(cardNumber="4111 1111 1111 1111")
    # WHEN it is scored
    assert client.post("/api/v1/score", json=body).status_code == 200
    # THEN the row keeps the HMAC of the whole PAN under the configured key, BIN and last four
    row = _stored(settings, body["transactionId"])
    assert row["card_hash"] == card_hash(TEST_PAN, PAN_KEY.encode())
    assert (row["card_bin"], row["card_last4"], row["card_key_version"]) == ("411111", "1111", "1")
    assert TEST_PAN not in json.dumps(row)


def test_score_retry_same_payload_returns_first_decision(client: TestClient, settings: Settings) -> None:
    # GIVEN a scored transaction
    body = transaction(amount="900.00")
    first = client.post("/api/v1/score", json=body)
    # WHEN the client retries the same request
    retry = client.post("/api/v1/score", json=body)
    # THEN it gets the first decision back, marked as a replay, and one row exists
    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert _stored(settings, body["transactionId"])["decision"] == first.json()["decision"]


def test_score_retry_equivalent_amount_and_card_spacing_is_same_payload(client: TestClient) -> None:
    # GIVEN a scored transaction
    body = transaction(amount="12.5")
    first = client.post("/api/v1/score", json=body).json()
    # WHEN it is retried with the amount and card number written differently
    retry = client.post("/api/v1/score", json={**body, "amount": 12.50, "cardNumber": "4111-1111-1111-1111"})
    # THEN it is recognised as the same transaction
    assert retry.status_code == 200
    assert retry.json() == first


def test_score_same_id_different_payload_conflicts(client: TestClient, settings: Settings) -> None:
    # GIVEN a scored transaction
    body = transaction(amount="10.00")
    first = client.post("/api/v1/score", json=body).json()
    # WHEN the same id arrives with another amount, or another card
    other_amount = client.post("/api/v1/score", json={**body, "amount": "11.00"})
    other_card = client.post("/api/v1/score", json={**body, "cardNumber": OTHER_PAN})
    # THEN both are refused with 409 and the stored decision is untouched
    for response in (other_amount, other_card):
        assert response.status_code == 409
        assert response.json()["error"] == "transaction_id_conflict"
    assert _stored(settings, body["transactionId"])["score"] == first["score"]


def test_score_concurrent_duplicates_store_one_row_one_decision(client: TestClient, settings: Settings) -> None:
    # GIVEN one transaction sent by 8 threads at once (a client retrying aggressively)
    body = transaction(amount="600.00")
    results: list[Any] = []
    start = threading.Barrier(8)

    def send() -> None:
        start.wait()
        results.append(client.post("/api/v1/score", json=body))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN every caller gets the same decision and exactly one row exists
    assert [r.status_code for r in results] == [200] * 8
    assert len({json.dumps(r.json(), sort_keys=True) for r in results}) == 1
    assert sum(1 for r in results if "Idempotent-Replayed" not in r.headers) == 1
    assert _stored(settings, body["transactionId"])["transaction_id"] == body["transactionId"]


def test_score_invalid_fields_answer_400_listing_each_problem(client: TestClient, settings: Settings) -> None:
    # GIVEN a body with several problems at once, including a forbidden CVV
    body = transaction(amount="-5", currency="EURO", cardNumber="4111111111111112", channel="fax", cvv="123")
    del body["customerId"]
    # WHEN it is scored
    response = client.post("/api/v1/score", json=body)
    # THEN 400 lists every field problem, echoes no value, and nothing is stored
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "invalid_transaction"
    fields = {p["field"] for p in payload["problems"]}
    assert fields == {"body", "customerId", "amount", "currency", "cardNumber", "channel"}
    # (the random request id is left out: a hex id can contain "123" by chance)
    echoed = json.dumps({k: v for k, v in response.json().items() if k != "requestId"})
    assert "4111111111111112" not in echoed and "123" not in echoed
    assert payload["requestId"] == response.headers["X-Request-Id"]
    assert settings.DATABASE_URL is not None
    rows = query(
        settings.DATABASE_URL.get_secret_value(),
        "SELECT count(*) FROM transactions WHERE transaction_id = %s",
        (body["transactionId"],),
    )
    assert rows == [(0,)]


def test_score_malformed_json_answers_400(client: TestClient) -> None:
    # GIVEN a body that is not JSON
    response = client.post("/api/v1/score", content=b"{not json", headers={"Content-Type": "application/json"})
    # THEN 400 names the body as the problem
    assert response.status_code == 400
    assert response.json()["problems"] == [{"field": "body", "message": "is not valid JSON"}]


def test_score_oversized_body_answers_400_without_reading_it_all(client: TestClient) -> None:
    # GIVEN a 1 MiB body
    response = client.post("/api/v1/score", content=b" " * (1 << 20), headers={"Content-Type": "application/json"})
    # THEN it is refused as too large
    assert response.status_code == 400
    assert response.json()["problems"][0]["field"] == "body"
    assert "limit" in response.json()["problems"][0]["message"]


def test_score_pan_as_transaction_id_is_refused(client: TestClient) -> None:
    # GIVEN a client that put the card number in the transaction id
    response = client.post("/api/v1/score", json=transaction(transactionId=TEST_PAN))
    # THEN it is refused (it would be stored in clear) and the number is not echoed
    assert response.status_code == 400
    assert response.json()["problems"][0]["field"] == "transactionId"
    assert TEST_PAN not in response.text


def test_score_retry_after_pan_key_rotation_matches_until_the_old_key_is_retired(
    client: TestClient, settings: Settings
) -> None:
    # GIVEN a transaction scored while the PAN hash key version was "1"
    body = transaction(amount="77.00")
    first = client.post("/api/v1/score", json=body).json()
    assert settings.DATABASE_URL is not None
    url = settings.DATABASE_URL.get_secret_value()
    model = settings.MODEL_PATH
    assert model is not None
    rotated = {**API_CONFIG, "panHashKeys": {"1": PAN_KEY, "2": "n" * 64}, "panHashKeyVersion": "2"}
    retired = {**API_CONFIG, "panHashKeys": {"2": "n" * 64}, "panHashKeyVersion": "2"}
    # WHEN the key is rotated to "2" with "1" kept, and the client retries
    with running_app(make_settings(url, model, API_CONFIG_JSON=json.dumps(rotated))) as rotated_client:
        retry = rotated_client.post("/api/v1/score", json=body)
        other_card = rotated_client.post("/api/v1/score", json={**body, "cardNumber": OTHER_PAN})
    # THEN the retry is recognised (card hashed under the stored key version); another card conflicts
    assert retry.status_code == 200 and retry.json() == first
    assert other_card.status_code == 409
    # WHEN "1" is retired and the client retries again
    with running_app(make_settings(url, model, API_CONFIG_JSON=json.dumps(retired))) as retired_client:
        unverifiable = retired_client.post("/api/v1/score", json=body)
    # THEN the card can no longer be verified: a conflict, never a replay on BIN and last four alone
    assert unverifiable.status_code == 409
    assert _stored(settings, body["transactionId"])["card_key_version"] == "1"


def test_score_with_shipped_model_answers_its_version(settings: Settings) -> None:
    # GIVEN the service with no MODEL_PATH: the artifact shipped in fraud_scoring, as in the image
    assert settings.DATABASE_URL is not None
    shipped = Scorer.load().model_version
    with running_app(make_settings(settings.DATABASE_URL.get_secret_value(), None)) as shipped_client:
        # WHEN a transaction is scored THEN the shipped model's version decided it
        response = shipped_client.post("/api/v1/score", json=transaction())
    assert response.status_code == 200
    assert response.json()["modelVersion"] == shipped != MODEL_VERSION


def _service(client: TestClient) -> ScoringService:
    service: ScoringService = client.app.state.runtime.service  # type: ignore[attr-defined]
    return service


def _unavailable_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The reasons operators read in the 503 warnings (``error`` field of each log line)."""
    return [r.error for r in caplog.records if r.message == "database unavailable"]  # type: ignore[attr-defined]


def test_score_stores_transaction_decision_context_and_fired_rules(client: TestClient, settings: Settings) -> None:
    # GIVEN a card that paid four times in the last half hour
    customer = new_id("cust")
    moment = ago(minutes=1).replace(microsecond=0)  # whole seconds: the expected epoch ms is exact
    for minutes in (30, 20, 10, 5):
        earlier = transaction(customerId=customer, timestamp=iso(ago(minutes=minutes + 1)))
        assert client.post("/api/v1/score", json=earlier).status_code == 200
    # WHEN its fifth payment arrives, every field away from the helper's defaults, under a request id
    body = transaction(
        customerId=customer,
        timestamp=iso(moment),
        amount="750.00",
        currency="USD",
        merchantCategoryCode="5999",
        channel="ecom",
        cardNumber="378282246310005",
    )
    response = client.post("/api/v1/score", json=body, headers={"X-Request-Id": "req-score-context-1"})
    # THEN the answer names the velocity rule, and the row holds the transaction, the decision, the
    # thresholds and rules that made it, and the request that asked
    assert response.status_code == 200
    assert response.json()["decision"] == "review"
    assert "5 payments by this card within one hour" in response.json()["reasons"]
    assert settings.DATABASE_URL is not None
    [row] = query(
        settings.DATABASE_URL.get_secret_value(),
        "SELECT (extract(epoch FROM ts) * 1000)::bigint, customer_id, amount::text, currency, merchant_category_code,"
        " channel, card_bin, card_last4, card_pan_length, card_key_version, decision, rule_ids, model_version,"
        " review_threshold, decline_threshold, request_id FROM transactions WHERE transaction_id = %s",
        (body["transactionId"],),
    )
    assert row == (
        int(moment.timestamp()) * 1000,
        customer,
        "750.00",
        "USD",
        "5999",
        "ecom",
        "378282",
        "0005",
        15,
        "1",
        "review",
        ["velocity_burst"],
        MODEL_VERSION,
        0.3,
        0.8,
        "req-score-context-1",
    )


def test_score_and_ready_answer_503_until_schema_is_migrated(
    client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a worker that started while the database was unreachable: no schema yet
    monkeypatch.setattr(errors, "_sampled", errors._Sampled())
    schema = _service(client).schema_ready
    schema.clear()
    try:
        # WHEN a transaction and a readiness probe arrive
        with caplog.at_level(logging.WARNING, logger="fraud_api.app.api.errors"):
            scored = client.post("/api/v1/score", json=transaction())
        ready = client.get("/api/ready")
    finally:
        schema.set()
    # THEN both are refused as retryable, and the operator reads why
    assert scored.status_code == 503
    assert scored.json()["error"] == "database_unavailable"
    assert ready.status_code == 503
    assert _unavailable_errors(caplog) == ["database schema not migrated yet (database unreachable at startup)"]
    assert client.get("/api/ready").status_code == 200


def test_score_row_vanished_before_read_back_answers_503(
    client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the id already stored (insert refused) but the row deleted by hand before it is read back
    async def refused(*_: object) -> bool:
        return False

    async def gone(*_: object) -> None:
        return None

    monkeypatch.setattr(errors, "_sampled", errors._Sampled())
    monkeypatch.setattr(repository, "insert_transaction", refused)
    monkeypatch.setattr(repository, "get_transaction", gone)
    # WHEN it is scored
    with caplog.at_level(logging.WARNING, logger="fraud_api.app.api.errors"):
        response = client.post("/api/v1/score", json=transaction())
    # THEN a retryable 503, and the operator reads what happened
    assert response.status_code == 503
    assert response.json()["error"] == "database_unavailable"
    assert _unavailable_errors(caplog) == ["transaction vanished while reading it back"]


def test_score_reads_the_terminal_history_confirmed_fraud_escalates(client: TestClient) -> None:
    # GIVEN a payment at a terminal 20 days ago, confirmed fraud 12 days ago
    terminal = new_id("term")
    first = transaction(terminalId=terminal, timestamp=iso(ago(days=20)))
    assert client.post("/api/v1/score", json=first).status_code == 200
    label = {"transactionId": first["transactionId"], "fraud": True, "source": "chargeback"}
    assert client.post("/api/v1/feedback", json={**label, "labelTime": iso(ago(days=12))}).status_code == 200
    # WHEN another card pays a small amount there THEN the terminal's streak rule sends it to review
    result = client.post("/api/v1/score", json=transaction(terminalId=terminal)).json()
    assert result["decision"] == "review"
    assert (
        "terminal's latest confirmed transactions are fraud (run began 20 days ago, one of them at 1.0x the "
        "terminal's median amount; no confirmed legitimate use since)"
    ) in result["reasons"]
