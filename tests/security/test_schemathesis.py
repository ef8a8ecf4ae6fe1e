"""schemathesis against fraud-api, directly and through the local gateway (issue 11, findings 6 and 8).

Every operation of the published OpenAPI document, with requests generated from it, valid
(positive) and invalid (negative), a bounded number of each. Checks: never a 5xx, the status is
one the operation declares, the body matches the declared schema and content type, invalid
requests are refused and valid ones accepted. Valid bodies first get the business rules JSON
Schema cannot state (the clock windows of ``timestamp`` and ``labelTime``, a Luhn check digit):
the schema's descriptions name them, and without them nearly every generated body would be
refused for them. Through the gateway, a path it refuses itself gets API Gateway's answer
(``{"message"}`` and ``x-amzn-ErrorType``), checked as such.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode

from fraud_common.card import luhn_valid, random_letters
from tests.security.conftest import API_KEY, Servers
from tests.support.pan_cases import holds

OPERATIONS = [
    ("/api/health", "GET"),
    ("/api/ready", "GET"),
    ("/api/v1/score", "POST"),
    ("/api/v1/feedback", "POST"),
    ("/api/v1/decisions/{transaction_id}", "GET"),
]
EXAMPLES = 40
"""Per operation, mode and target: about 1,000 requests for the tier (bounded for 2 shared cores)."""


def with_business_rules(body: dict[str, Any]) -> dict[str, Any]:
    """A schema-valid transaction made to satisfy the rules the schema can only describe."""
    now = datetime.now(tz=UTC) - timedelta(seconds=30)
    body = {**body, "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    digits = "".join(ch for ch in body["cardNumber"] if ch.isdigit())
    for check in "0123456789":
        if luhn_valid(digits[:-1] + check):
            body["cardNumber"] = digits[:-1] + check
            break
    # Fresh ids: a generated id seen before with another payload is a (declared) 409, and an id
    # that happens to be a card number is the identifier business rule.
    body["transactionId"] = f"sec-{random_letters(16)}"
    for name in ("customerId", "terminalId"):
        body[name] = f"{name[:4]}-{random_letters(12)}"
    return body


# An operation without parameters or body has no invalid request to generate.
CASES = [
    pytest.param(path, method, target, mode, id=f"{method} {path} {target} {mode.value}")
    for path, method in OPERATIONS
    for target in ("fraud-api", "gateway")
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or path.startswith("/api/v1/")
]


@pytest.mark.parametrize(("path", "method", "target", "mode"), CASES)
def test_schemathesis_operation_conforms_and_never_5xx(
    servers: Servers, path: str, method: str, target: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_dict(servers.openapi)
    operation = schema[path][method]
    base_url = servers.api_url if target == "fraud-api" else servers.gateway_url
    headers = {"x-api-key": API_KEY} if target == "gateway" else {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(operation.as_strategy(generation_mode=mode))
    def run(case: Case) -> None:
        if mode is GenerationMode.POSITIVE and isinstance(case.body, dict):
            if path == "/api/v1/score":
                case.body = with_business_rules(case.body)
            elif path == "/api/v1/feedback" and case.body.get("labelTime") is not None:
                case.body["labelTime"] = datetime.now(tz=UTC).isoformat()  # the documented clock rule
        card = case.body.get("cardNumber") if isinstance(case.body, dict) else None
        digits = "".join(ch for ch in card if ch.isdigit()) if isinstance(card, str) else ""
        if 12 <= len(digits) <= 19 and luhn_valid(digits):
            servers.sent_pans.add(digits)
        response = case.call(base_url=base_url, headers=headers)
        for pan in servers.sent_pans & ({digits} if digits else set()):
            assert not holds(response.text, pan), "a response echoes the card number it was sent"
        if "x-amzn-errortype" in response.headers:
            # The gateway's own answer (a path API Gateway refuses): its shape, not fraud-api's.
            assert response.status_code == 400, response.status_code
            assert set(response.json()) == {"message"}
        else:
            case.validate_response(response)

    run()
