"""POST /transactions/{id}/label on the processor, against moto DynamoDB: fraud-api's feedback contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from handler_support import TABLE, VISA, api_event, dump_table, find_pans, put_transaction_item

from functions.processor.handler import lambda_handler


def _label_event(transaction_id: str, body: Any) -> dict[str, Any]:
    event = api_event("POST", body, transaction_id=transaction_id)
    event["resource"] = event["requestContext"]["resourcePath"] = "/transactions/{id}/label"
    event["path"] = f"/transactions/{transaction_id}/label"
    return event


def _label(ctx: Any, transaction_id: str, body: Any) -> tuple[int, dict[str, Any]]:
    response = lambda_handler(_label_event(transaction_id, body), ctx)
    return response["statusCode"], json.loads(response["body"])


def _stored_label(aws: dict[str, Any]) -> dict[str, Any]:
    [item] = dump_table(aws["dynamodb"], TABLE)
    return {k: item.get(k) for k in ("fraudLabel", "labelTime", "labelSource")}


def test_label_chargeback_is_applied_and_stored(aws, lambda_context):
    # GIVEN a stored transaction
    tx_id = put_transaction_item(aws)
    # WHEN a chargeback confirms fraud
    status, body = _label(
        lambda_context, tx_id, {"fraud": True, "source": "chargeback", "labelTime": "2026-01-12T08:30:00+02:00"}
    )
    # THEN the answer is fraud-api's FeedbackPublic and the item holds the label (epoch ms)
    assert status == 200
    assert body == {
        "transactionId": "tx-0001",
        "applied": True,
        "label": {"fraud": True, "labelTime": "2026-01-12T06:30:00.000Z", "source": "chargeback"},
    }
    assert _stored_label(aws) == {
        "fraudLabel": {"BOOL": True},
        "labelTime": {"N": "1768199400000"},
        "labelSource": {"S": "chargeback"},
    }


def test_label_older_label_after_newer_is_kept(aws, lambda_context):
    # GIVEN a transaction labelled fraud on the 12th
    tx_id = put_transaction_item(aws)
    _label(lambda_context, tx_id, {"fraud": True, "source": "chargeback", "labelTime": "2026-01-12T00:00:00Z"})
    # WHEN an older "legitimate" review arrives late
    status, body = _label(
        lambda_context, tx_id, {"fraud": False, "source": "analyst_review", "labelTime": "2026-01-11T00:00:00Z"}
    )
    # THEN it is not applied and the answer shows the newer label in force
    assert status == 200
    assert body["applied"] is False
    assert body["label"] == {"fraud": True, "labelTime": "2026-01-12T00:00:00.000Z", "source": "chargeback"}
    assert _stored_label(aws)["fraudLabel"] == {"BOOL": True}
    # AND a newer label replaces it
    status, body = _label(
        lambda_context, tx_id, {"fraud": False, "source": "issuer_report", "labelTime": "2026-01-13T00:00:00Z"}
    )
    assert body["applied"] is True
    assert _stored_label(aws) == {
        "fraudLabel": {"BOOL": False},
        "labelTime": {"N": "1768262400000"},
        "labelSource": {"S": "issuer_report"},
    }


def test_label_sent_twice_gives_the_same_answer(aws, lambda_context):
    # GIVEN a stored transaction and a label
    tx_id = put_transaction_item(aws)
    label = {"fraud": True, "source": "customer_report", "labelTime": "2026-01-12T00:00:00Z"}
    # WHEN the same label is sent twice (a client retry)
    first = _label(lambda_context, tx_id, label)
    second = _label(lambda_context, tx_id, label)
    # THEN both answers are identical (a tie is applied again, as fraud-api does) and so is the item
    assert first == second
    assert first[1]["applied"] is True
    assert _stored_label(aws)["labelTime"] == {"N": "1768176000000"}


def test_label_unknown_transaction_answers_404(aws, lambda_context):
    status, body = _label(lambda_context, "tx-unknown", {"fraud": True, "source": "chargeback"})
    assert status == 404
    assert body == {"error": "not_found", "message": "no transaction with this id"}


def test_label_before_transaction_is_refused_and_nothing_stored(aws, lambda_context):
    # GIVEN a transaction of the 10th at noon WHEN a label claims to be known an hour earlier
    tx_id = put_transaction_item(aws)
    status, body = _label(
        lambda_context, tx_id, {"fraud": True, "source": "chargeback", "labelTime": "2026-01-10T11:00:00Z"}
    )
    # THEN it is refused naming labelTime (fraud-api's message), and no label is stored
    assert status == 400
    assert body == {
        "error": "invalid_request",
        "problems": [{"field": "labelTime", "message": "labelTime is earlier than the transaction's timestamp"}],
    }
    assert _stored_label(aws) == {"fraudLabel": None, "labelTime": None, "labelSource": None}


def test_label_more_than_five_minutes_ahead_is_refused(aws, lambda_context):
    tx_id = put_transaction_item(aws)
    ahead = datetime.fromtimestamp(datetime.now(tz=UTC).timestamp() + 360, tz=UTC).isoformat()
    status, body = _label(lambda_context, tx_id, {"fraud": True, "source": "chargeback", "labelTime": ahead})
    assert status == 400
    assert body["problems"] == [{"field": "labelTime", "message": "is more than 5 minutes in the future"}]
    assert _stored_label(aws)["fraudLabel"] is None


def test_label_without_time_uses_now(aws, lambda_context):
    tx_id = put_transaction_item(aws)
    status, body = _label(lambda_context, tx_id, {"fraud": False, "source": "analyst_review"})
    assert status == 200
    assert body["label"]["labelTime"][:16] == datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M")


def test_label_invalid_body_lists_every_problem_without_echoing_values(aws, logs, lambda_context):
    # GIVEN a body with a non-boolean label, an unknown source holding a card number, a naive time
    # and an unknown field whose name is a card number
    tx_id = put_transaction_item(aws)
    body = {"fraud": "yes", "source": VISA, "labelTime": "2026-01-12T00:00:00", VISA: 1}
    status, answer = _label(lambda_context, tx_id, body)
    # THEN each problem is named by field, the unknown one by position, and no card number is echoed
    assert status == 400
    assert answer == {
        "error": "invalid_request",
        "problems": [
            {"field": "body", "message": "4th field is unknown; allowed fields are fraud, source, labelTime"},
            {"field": "fraud", "message": "must be true or false"},
            {
                "field": "source",
                "message": "must be one of chargeback, analyst_review, issuer_report, customer_report",
            },
            {
                "field": "labelTime",
                "message": "must be an RFC 3339 date-time with seconds and a UTC offset or Z, "
                "such as 2026-11-21T10:15:00Z",
            },
        ],
    }
    assert find_pans(logs.getvalue()) == []
    assert _stored_label(aws)["fraudLabel"] is None


def test_label_card_number_in_id_is_refused(aws, logs, lambda_context):
    status, body = _label(lambda_context, VISA, {"fraud": True, "source": "chargeback"})
    assert status == 400
    assert body["problems"][0]["field"] == "id"
    assert body["problems"][0]["message"].startswith("must not contain a card number")
    assert find_pans(json.dumps(body)) == [] and find_pans(logs.getvalue()) == []


def test_label_route_accepts_only_post(aws, lambda_context):
    event = _label_event("tx-0001", None)
    event["httpMethod"] = "GET"
    response = lambda_handler(event, lambda_context)
    assert response["statusCode"] == 405
    assert json.loads(response["body"]) == {"error": "method_not_allowed", "message": "use POST"}


def test_label_body_not_an_object_is_refused(aws, lambda_context):
    tx_id = put_transaction_item(aws)
    assert _label(lambda_context, tx_id, "[true]") == (
        400,
        {"error": "invalid_request", "problems": [{"field": "body", "message": "must be a JSON object"}]},
    )
