"""POST /api/v1/feedback: confirmed labels with their time."""

from __future__ import annotations

from fastapi.testclient import TestClient

from fraud_api.app.core.config import Settings
from tests.api.utils import ago, iso, new_id, query, transaction


def _scored(client: TestClient, **overrides: object) -> str:
    body = transaction(**overrides)
    assert client.post("/api/v1/score", json=body).status_code == 200
    return str(body["transactionId"])


def test_feedback_chargeback_is_recorded_and_shown_on_the_decision(client: TestClient) -> None:
    # GIVEN a scored transaction
    tx_id = _scored(client, timestamp=iso(ago(days=10)))
    label_time = iso(ago(days=2))
    # WHEN a chargeback confirms fraud
    response = client.post(
        "/api/v1/feedback",
        json={"transactionId": tx_id, "fraud": True, "source": "chargeback", "labelTime": label_time},
    )
    # THEN it is applied and the decision shows it
    assert response.status_code == 200
    assert response.json()["applied"] is True
    assert response.json()["label"]["fraud"] is True
    label = client.get(f"/api/v1/decisions/{tx_id}").json()["label"]
    assert label["fraud"] is True and label["source"] == "chargeback"
    assert label["labelTime"].startswith(label_time[:19])


def test_feedback_without_label_time_uses_now(client: TestClient) -> None:
    # GIVEN a scored transaction WHEN an analyst marks it legitimate without a time
    tx_id = _scored(client)
    response = client.post(
        "/api/v1/feedback", json={"transactionId": tx_id, "fraud": False, "source": "analyst_review"}
    )
    # THEN the label time is the server's now
    assert response.status_code == 200
    assert response.json()["label"]["labelTime"][:16] == iso(ago(seconds=0))[:16]


def test_feedback_older_label_does_not_replace_newer_one(client: TestClient) -> None:
    # GIVEN a transaction labelled fraud two days ago
    tx_id = _scored(client, timestamp=iso(ago(days=20)))
    client.post(
        "/api/v1/feedback",
        json={"transactionId": tx_id, "fraud": True, "source": "chargeback", "labelTime": iso(ago(days=2))},
    )
    # WHEN an older "legitimate" label arrives late
    late = client.post(
        "/api/v1/feedback",
        json={"transactionId": tx_id, "fraud": False, "source": "analyst_review", "labelTime": iso(ago(days=5))},
    )
    # THEN it is not applied and the newer label stays
    assert late.status_code == 200
    assert late.json()["applied"] is False
    assert late.json()["label"]["fraud"] is True
    # AND a newer label does replace it
    newer = client.post(
        "/api/v1/feedback",
        json={"transactionId": tx_id, "fraud": False, "source": "analyst_review", "labelTime": iso(ago(days=1))},
    )
    assert newer.json()["applied"] is True
    assert client.get(f"/api/v1/decisions/{tx_id}").json()["label"]["fraud"] is False


def test_feedback_unknown_transaction_answers_404(client: TestClient) -> None:
    response = client.post("/api/v1/feedback", json={"transactionId": new_id(), "fraud": True, "source": "chargeback"})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_feedback_label_before_transaction_answers_400(client: TestClient) -> None:
    # GIVEN a transaction from yesterday WHEN a label claims to be known a week ago
    tx_id = _scored(client, timestamp=iso(ago(days=1)))
    response = client.post(
        "/api/v1/feedback",
        json={"transactionId": tx_id, "fraud": True, "source": "chargeback", "labelTime": iso(ago(days=7))},
    )
    # THEN it is refused naming labelTime, and no label is stored
    assert response.status_code == 400
    assert response.json()["problems"] == [
        {"field": "labelTime", "message": "labelTime is earlier than the transaction's timestamp"}
    ]
    assert client.get(f"/api/v1/decisions/{tx_id}").json()["label"] is None


def test_feedback_label_time_in_future_answers_400(client: TestClient) -> None:
    tx_id = _scored(client)
    response = client.post(
        "/api/v1/feedback",
        json={"transactionId": tx_id, "fraud": True, "source": "chargeback", "labelTime": iso(ago(hours=-2))},
    )
    assert response.status_code == 400
    assert response.json()["problems"] == [{"field": "labelTime", "message": "is more than 5 minutes in the future"}]


def test_feedback_invalid_body_answers_400_listing_each_problem(client: TestClient) -> None:
    # GIVEN a body with a non-boolean label, an unknown source, a naive time and an extra field
    body = {"transactionId": "bad id!", "fraud": "yes", "source": "rumour", "labelTime": "2026-01-01T00:00:00", "x": 1}
    response = client.post("/api/v1/feedback", json=body)
    # THEN every problem is listed by its JSON field name; the unknown one by its position only
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "invalid_request"
    assert {p["field"] for p in payload["problems"]} == {"transactionId", "fraud", "source", "labelTime", "body"}
    assert {"field": "body", "message": "the 5th field is unknown; see the request schema for the allowed fields"} in (
        payload["problems"]
    )


def test_feedback_stores_the_request_id_that_recorded_the_label(client: TestClient, settings: Settings) -> None:
    # GIVEN a scored transaction WHEN a chargeback arrives under a request id
    tx_id = _scored(client, timestamp=iso(ago(days=3)))
    response = client.post(
        "/api/v1/feedback",
        json={"transactionId": tx_id, "fraud": True, "source": "chargeback"},
        headers={"X-Request-Id": "req-label-chargeback-7"},
    )
    # THEN the row says which request recorded the label (to trace it back in the logs)
    assert response.status_code == 200
    assert settings.DATABASE_URL is not None
    rows = query(
        settings.DATABASE_URL.get_secret_value(),
        "SELECT label_request_id FROM transactions WHERE transaction_id = %s",
        (tx_id,),
    )
    assert rows == [("req-label-chargeback-7",)]
