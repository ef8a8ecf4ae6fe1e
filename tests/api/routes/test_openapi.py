"""The OpenAPI document declares exactly the status codes each route returns (issue 11, finding 8).

FastAPI declares 422 for every operation with a body or parameters; this service answers 400 for
every invalid request (as API Gateway and the processor do), so 422 must not be promised.
"""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from fraud_api.app.main import create_app

# What each route can return: 200, plus the errors its handlers raise (see fraud_api/app/api/errors.py):
# 400 invalid request, 404 unknown transaction, 409 id conflict, 503 database unavailable or overloaded.
DECLARED = {
    ("/api/health", "get"): {"200"},
    ("/api/ready", "get"): {"200", "503"},
    ("/api/v1/score", "post"): {"200", "400", "409", "503"},
    ("/api/v1/feedback", "post"): {"200", "400", "404", "503"},
    ("/api/v1/decisions/{transaction_id}", "get"): {"200", "400", "404", "503"},
}


def test_openapi_declares_exactly_the_statuses_each_route_returns() -> None:
    # GIVEN the document as served (no database needed to build it)
    spec = create_app().openapi()
    # THEN every operation declares its statuses, 422 nowhere
    declared = {
        (path, method): set(op["responses"]) for path, ops in spec["paths"].items() for method, op in ops.items()
    }
    assert declared == DECLARED
    assert '"422"' not in json.dumps(spec)
    assert not {"HTTPValidationError", "ValidationError"} & set(spec["components"]["schemas"])
    # and every declared error body is the one error shape
    for (path, method), statuses in DECLARED.items():
        for status in statuses - {"200"}:
            content = spec["paths"][path][method]["responses"][status]["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/ErrorPublic"}


def test_requests_fastapi_would_answer_422_get_the_declared_400(client: TestClient) -> None:
    # Body, path and type problems: each answered 400 with the error shape, which the routes declare.
    responses = [
        client.post("/api/v1/feedback", json={}),
        client.post("/api/v1/feedback", json={"transactionId": "tx-1", "fraud": "yes", "source": "chargeback"}),
        client.get("/api/v1/decisions/has space"),
        client.post("/api/v1/score", json={}),
    ]
    assert [r.status_code for r in responses] == [400, 400, 400, 400]
    assert all(r.json()["error"] in {"invalid_request", "invalid_transaction"} for r in responses)
