"""POST /api/v1/score: a retry gets the first decision and any other use of its id is a 409, as
``fraud_common.identity`` defines "the same transaction", on the real PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.api.utils import new_id, transaction
from tests.support.transaction_changes import FIELDS, amount_spellings, card_spellings, changed_value, with_change

# transactionId is the lookup key here: a request with another id is another transaction.
_CHANGED_FIELDS = [field for field in FIELDS if field != "transactionId"]


@pytest.mark.parametrize("field", _CHANGED_FIELDS)
def test_score_changed_field_conflicts_and_identical_retry_replays(client: TestClient, field: str) -> None:
    @settings(max_examples=10, database=None, deadline=None)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        # GIVEN a scored transaction, with or without a merchant category code
        mcc = data.draw(st.sampled_from(["5411", None]), label="stored merchantCategoryCode")
        body = transaction(transactionId=new_id(), merchantCategoryCode=mcc)
        first = client.post("/api/v1/score", json=body)
        assert first.status_code == 200
        # WHEN the same id arrives with one field changed to another valid value
        changed = with_change(body, field, data.draw(changed_value(body, field), label=field))
        conflict = client.post("/api/v1/score", json=changed)
        # THEN it is refused; and the unchanged request (amount and card spelt differently) still replays
        assert conflict.status_code == 409, conflict.text
        assert conflict.json()["error"] == "transaction_id_conflict"
        retry = {
            **body,
            "amount": data.draw(amount_spellings(Decimal(body["amount"]))),
            "cardNumber": data.draw(card_spellings(body["cardNumber"])),
        }
        replay = client.post("/api/v1/score", json=retry)
        assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == first.json()

    check()
