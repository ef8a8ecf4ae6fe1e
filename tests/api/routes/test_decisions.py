"""GET /api/v1/decisions/{transactionId}."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.utils import TEST_PAN, new_id, transaction


def test_read_decision_returns_stored_decision_with_masked_card(client: TestClient) -> None:
    # GIVEN a scored transaction
    body = transaction(amount="750.00", merchantCategoryCode="5999", channel="ecom")
    scored = client.post("/api/v1/score", json=body).json()
    # WHEN its decision is read back
    response = client.get(f"/api/v1/decisions/{body['transactionId']}")
    # THEN it matches the answer given at scoring time and shows BIN + last four only
    assert response.status_code == 200
    decision = response.json()
    assert {k: decision[k] for k in scored} == scored
    assert decision["thresholds"] == {"review": 0.3, "decline": 0.8}
    tx = decision["transaction"]
    assert tx["amount"] == "750.00" and tx["currency"] == "EUR" and tx["channel"] == "ecom"
    assert tx["merchantCategoryCode"] == "5999"
    assert tx["card"] == {"bin": "411111", "last4": "1111", "masked": "411111******1111"}
    assert decision["label"] is None
    assert TEST_PAN not in response.text


def test_read_decision_unknown_id_answers_404(client: TestClient) -> None:
    response = client.get(f"/api/v1/decisions/{new_id()}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_read_decision_malformed_id_answers_400(client: TestClient) -> None:
    response = client.get("/api/v1/decisions/not%20an%20id")
    assert response.status_code == 400
    assert response.json()["problems"][0]["field"] == "transaction_id"
