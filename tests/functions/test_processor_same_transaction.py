"""Processor: a retry is replayed and any other use of its id or Idempotency-Key is a 409, as
``fraud_common.identity`` defines "the same transaction", against moto DynamoDB."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from handler_support import CONFIG, PAN_HASH_KEY, TABLE, api_event, dump_table, transaction_body
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraud_common.card import random_letters
from functions.common.api_config import ApiConfigCache, api_config
from functions.processor import ingest
from functions.processor.handler import lambda_handler
from tests.support.transaction_changes import FIELDS, amount_spellings, card_spellings, changed_value, with_change

_PROPERTY = settings(
    max_examples=10, database=None, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_NEW_KEY = "r" * 56


def _post(ctx: Any, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    headers = {"Idempotency-Key": key} if key else None
    return lambda_handler(api_event("POST", body, headers=headers), ctx)


def _transaction_items(aws: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in dump_table(aws["dynamodb"], TABLE) if i["timestamp"]["N"] != "0"]


def _set_config(aws: dict[str, Any], config: dict[str, Any]) -> None:
    aws["secretsmanager"].put_secret_value(SecretId=aws["secret_arn"], SecretString=json.dumps(config))
    api_config.clear()  # a cold container: reads the secret as it is now


@pytest.mark.parametrize("field", FIELDS)
def test_processor_post_changed_field_conflicts_and_identical_retry_replays(aws, lambda_context, field):
    @_PROPERTY
    @given(st.data())
    def check(data: st.DataObject) -> None:
        # GIVEN a stored transaction, with or without an Idempotency-Key (always with one when the
        # id itself changes: a new id alone is a new transaction)
        mcc = data.draw(st.sampled_from(["5411", None]), label="stored merchantCategoryCode")
        body = transaction_body(transactionId=f"tx-{random_letters(16)}", merchantCategoryCode=mcc)
        with_key = field == "transactionId" or data.draw(st.booleans(), label="Idempotency-Key")
        key = f"key-{random_letters(16)}" if with_key else None
        first = _post(lambda_context, body, key)
        assert first["statusCode"] == 201
        # WHEN the request is sent again with one field changed to another valid value
        changed = with_change(body, field, data.draw(changed_value(body, field), label=field))
        conflict = _post(lambda_context, changed, key)
        # THEN it is refused; and the unchanged request (amount and card spelt differently) still replays
        assert conflict["statusCode"] == 409, conflict["body"]
        retry = {
            **body,
            "amount": data.draw(amount_spellings(Decimal(body["amount"]))),
            "cardNumber": data.draw(card_spellings(body["cardNumber"].replace(" ", ""))),
        }
        replay = _post(lambda_context, retry, key)
        assert replay["statusCode"] == 201 and replay["headers"]["Idempotent-Replayed"] == "true"
        assert json.loads(replay["body"]) == json.loads(first["body"])

    check()
    # Each example stored exactly one transaction: no conflict and no replay wrote a second item.
    ids = [item["transactionId"]["S"] for item in _transaction_items(aws)]
    assert len(ids) == len(set(ids))


def test_processor_post_retry_after_rekeying_replays_until_the_old_key_is_retired(aws, lambda_context):
    # GIVEN a transaction stored under card-hash key "1", with an Idempotency-Key
    body = transaction_body(transactionId="tx-rekey")
    first = _post(lambda_context, body, "key-rekey")
    # WHEN the key is rotated to "2" with "1" kept, and the client retries
    _set_config(aws, {**CONFIG, "panHashKeys": {"1": PAN_HASH_KEY, "2": _NEW_KEY}, "panHashKeyVersion": "2"})
    retry = _post(lambda_context, body, "key-rekey")
    retry_without_key = _post(lambda_context, body)
    other_card = _post(lambda_context, {**body, "cardNumber": "5555555555554444"}, "key-rekey")
    # THEN the retry replays the first answer (card hashed under the stored version); another card conflicts
    for replay in (retry, retry_without_key):
        assert replay["statusCode"] == 201 and replay["headers"]["Idempotent-Replayed"] == "true"
        assert json.loads(replay["body"]) == json.loads(first["body"])
    assert other_card["statusCode"] == 409
    # WHEN "1" is retired THEN the stored card cannot be verified: a conflict, never a replay
    _set_config(aws, {**CONFIG, "panHashKeys": {"2": _NEW_KEY}, "panHashKeyVersion": "2"})
    assert _post(lambda_context, body)["statusCode"] == 409
    assert [i["cardKeyVersion"]["S"] for i in _transaction_items(aws)] == ["1"]


def test_processor_post_retry_reads_a_key_version_newer_than_its_cached_secret(aws, lambda_context, monkeypatch):
    # GIVEN this container cached the secret with key "1" only (its cache period has not ended)
    assert _post(lambda_context, transaction_body(transactionId="tx-warm"))["statusCode"] == 201
    # WHEN another container, already on key "2", stored a transaction, and it is retried here
    rotated = {**CONFIG, "panHashKeys": {"1": PAN_HASH_KEY, "2": _NEW_KEY}, "panHashKeyVersion": "2"}
    aws["secretsmanager"].put_secret_value(SecretId=aws["secret_arn"], SecretString=json.dumps(rotated))
    body = transaction_body(transactionId="tx-rekeyed")
    with monkeypatch.context() as other_container:
        other_container.setattr(ingest, "api_config", ApiConfigCache())
        assert _post(lambda_context, body)["statusCode"] == 201
    retry = _post(lambda_context, body)
    # THEN this container refreshes the secret and recognises the retry
    assert retry["statusCode"] == 201 and retry["headers"]["Idempotent-Replayed"] == "true"
    assert sorted(i["cardKeyVersion"]["S"] for i in _transaction_items(aws)) == ["1", "2"]


def test_processor_post_retry_under_a_known_key_version_reads_no_secret(aws, lambda_context, monkeypatch):
    # GIVEN a warm container that stored a transaction under the key version it has cached
    body = transaction_body(transactionId="tx-warm-retry")
    assert _post(lambda_context, body, "key-warm")["statusCode"] == 201
    reads: list[str] = []
    load = ApiConfigCache._load

    def counted_load() -> Any:
        reads.append("read")
        return load()

    monkeypatch.setattr(ApiConfigCache, "_load", staticmethod(counted_load))
    # WHEN the client retries, with and without its Idempotency-Key, and reuses the id for another card
    retries = [_post(lambda_context, body, "key-warm"), _post(lambda_context, body)]
    other = _post(lambda_context, {**body, "cardNumber": "5555555555554444"})
    # THEN the retries replay and the reuse conflicts, all from the cached secret: only a key version
    # the cache does not hold sends the container to Secrets Manager
    assert [r["headers"].get("Idempotent-Replayed") for r in retries] == ["true", "true"]
    assert other["statusCode"] == 409
    assert reads == []


def test_processor_post_marker_from_before_the_shared_definition_still_resolves_retries(aws, lambda_context):
    # GIVEN a transaction whose id marker was written by the old code: a fingerprint in its format
    body = transaction_body(transactionId="tx-legacy")
    first = _post(lambda_context, body)
    [item] = _transaction_items(aws)
    legacy_marker = {
        "transactionId": {"S": "tx-legacy"},
        "timestamp": {"N": "0"},
        "itemType": {"S": "MARKER"},
        "fingerprint": {"S": "9f" * 32},
        "targetTransactionId": {"S": "tx-legacy"},
        "targetTimestamp": item["timestamp"],
        "receivedAt": item["receivedAt"],
    }
    aws["dynamodb"].put_item(TableName=TABLE, Item=legacy_marker)
    # WHEN the client retries, then reuses the id for another customer
    retry = _post(lambda_context, body)
    other = _post(lambda_context, {**body, "customerId": "cust-2"})
    # THEN the retry replays the first answer and the reuse conflicts
    assert retry["statusCode"] == 201 and json.loads(retry["body"]) == json.loads(first["body"])
    assert other["statusCode"] == 409


def test_processor_post_retry_matches_an_amount_read_back_without_trailing_zeros(aws, lambda_context):
    # GIVEN a stored 42.50 as DynamoDB returns it (numbers lose trailing zeros there; moto keeps them)
    body = transaction_body(transactionId="tx-trimmed", amount="42.50")
    first = _post(lambda_context, body)
    [item] = _transaction_items(aws)
    aws["dynamodb"].put_item(TableName=TABLE, Item={**item, "amount": {"N": "42.5"}})
    # WHEN the client retries THEN it is the same amount: the first answer comes back
    retry = _post(lambda_context, body)
    assert retry["statusCode"] == 201 and json.loads(retry["body"]) == json.loads(first["body"])


def test_processor_post_marker_without_its_transaction_conflicts(aws, lambda_context):
    # GIVEN a transaction item deleted by hand, its id marker left behind
    body = transaction_body(transactionId="tx-orphan")
    _post(lambda_context, body)
    [item] = _transaction_items(aws)
    aws["dynamodb"].delete_item(
        TableName=TABLE, Key={"transactionId": item["transactionId"], "timestamp": item["timestamp"]}
    )
    # WHEN the request is sent again THEN the id is still taken and nothing can be replayed
    assert _post(lambda_context, body)["statusCode"] == 409
    assert _transaction_items(aws) == []
