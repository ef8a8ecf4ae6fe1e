"""The customer's and the terminal's recent transactions, read through the history indexes.

For a transaction at ``t`` (epoch ms) both indexes are queried for (t - HISTORY_DAYS, t], newest
first, reading only the attributes the indexes project. The scorer filters by time and id itself,
so the current transaction being in the result is harmless. A very busy terminal is capped at
``MAX_HISTORY_ITEMS`` (newest kept) so one record cannot take the whole Lambda timeout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fraud_common import env
from fraud_common.tables import (
    CUSTOMER_HISTORY,
    CUSTOMER_ID,
    TERMINAL_HISTORY,
    TERMINAL_ID,
    TIMESTAMP,
    TRANSACTION_ID,
    Index,
)
from fraud_scoring import HISTORY_DAYS, History, HistoryItem
from functions.common import items
from functions.common.aws import client
from functions.common.observability import logger

DAY_MS = 86_400_000
MAX_HISTORY_ITEMS = 20_000
_PROJECTION = (TRANSACTION_ID, TIMESTAMP, *CUSTOMER_HISTORY.non_key_attributes)


def history_item(item: Mapping[str, Any]) -> HistoryItem:
    """One index item -> the scorer's ``HistoryItem`` (seconds and floats, label if any)."""
    label = item.get(items.FRAUD_LABEL)
    return HistoryItem(
        transaction_id=str(item[TRANSACTION_ID]),
        timestamp=float(item[TIMESTAMP]) / 1000.0,
        amount=float(item[items.AMOUNT]),
        customer_id=str(item[CUSTOMER_ID]),
        terminal_id=str(item[TERMINAL_ID]),
        fraud=label if isinstance(label, bool) else None,
        label_time=items.label_time_seconds(item.get(items.LABEL_TIME)),
    )


def query_index(index: Index, key: str, timestamp_ms: int) -> tuple[HistoryItem, ...]:
    """Items of ``index`` with hash key ``key`` in (t - HISTORY_DAYS, t], newest first."""
    names = {f"#a{i}": name for i, name in enumerate(_PROJECTION)}
    params: dict[str, Any] = {
        "TableName": env.require(env.TABLE_NAME),
        "IndexName": index.name,
        "KeyConditionExpression": "#k = :k AND #t BETWEEN :lo AND :hi",
        "ExpressionAttributeNames": {"#k": index.hash_key, "#t": index.range_key, **names},
        "ExpressionAttributeValues": items.serialize(
            {":k": key, ":lo": timestamp_ms - HISTORY_DAYS * DAY_MS + 1, ":hi": timestamp_ms}
        ),
        "ProjectionExpression": ", ".join(names),
        "ScanIndexForward": False,
    }
    found: list[HistoryItem] = []
    while True:
        page = client("dynamodb").query(**params)
        found.extend(history_item(items.deserialize(raw)) for raw in page.get("Items", []))
        last = page.get("LastEvaluatedKey")
        if not last:
            break
        if len(found) >= MAX_HISTORY_ITEMS:
            logger.warning("history truncated", extra={"index": index.name, "items": len(found)})
            break
        params["ExclusiveStartKey"] = last
    return tuple(found[:MAX_HISTORY_ITEMS])


def load_history(customer_id: str, terminal_id: str, timestamp_ms: int) -> History:
    """The customer's and the terminal's history for a transaction at ``timestamp_ms``."""
    return History(
        customer=query_index(CUSTOMER_HISTORY, customer_id, timestamp_ms),
        terminal=query_index(TERMINAL_HISTORY, terminal_id, timestamp_ms),
    )
