"""GET /api/health, GET /api/ready and the OpenAPI document."""

from __future__ import annotations

from fastapi.testclient import TestClient

from fraud_common.transaction_schema import TRANSACTION_JSON_SCHEMA


def test_health_answers_ok_without_database(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_answers_ready_when_database_reachable(client: TestClient) -> None:
    response = client.get("/api/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_openapi_publishes_routes_and_shared_transaction_schema(client: TestClient) -> None:
    # WHEN the OpenAPI document is fetched under /api (the only prefix the ALB forwards)
    response = client.get("/api/openapi.json")
    # THEN it lists every route and the score body is the shared transaction schema
    assert response.status_code == 200
    spec = response.json()
    assert set(spec["paths"]) == {
        "/api/health",
        "/api/ready",
        "/api/v1/score",
        "/api/v1/feedback",
        "/api/v1/decisions/{transaction_id}",
    }
    score = spec["paths"]["/api/v1/score"]["post"]
    assert score["requestBody"]["content"]["application/json"]["schema"] == TRANSACTION_JSON_SCHEMA
    assert {"200", "400", "409", "503"} <= set(score["responses"])
    assert client.get("/api/docs").status_code == 200


def test_unknown_route_answers_json_404(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
