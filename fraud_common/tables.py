"""The DynamoDB `transactions` table: keys, indexes and their access patterns, defined once.

The Pulumi data plane builds the table from this module, the Lambda handlers query it through the
index names below, and local mode creates the same table in moto from `boto3_create_table_args`, so
the deployed, the local and the coded shapes cannot drift apart. Standard library only (Lambda).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Item attributes used as keys. Timestamps are epoch milliseconds (N), so a range query on time
# is a numeric BETWEEN on the sort key.
TRANSACTION_ID = "transactionId"
TIMESTAMP = "timestamp"
CUSTOMER_ID = "customerId"
TERMINAL_ID = "terminalId"
DAY_SHARD = "dayShard"

# One day's writes are spread over this many partitions of the by-day index ("2026-11-21#0" ..
# "2026-11-21#15"); a single date key would put every write of the day on one partition and
# throttle at about 1,000 writes/s. The reporter queries all shards of the day (16 small queries).
DAY_SHARDS = 16

# Attributes the scoring history needs; the customer and terminal indexes project only these.
HISTORY_ATTRIBUTES = ("amount", "fraudLabel", "labelTime", TERMINAL_ID, CUSTOMER_ID)


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    range_key: str
    projection: str
    non_key_attributes: tuple[str, ...]
    access_pattern: str


CUSTOMER_HISTORY = Index(
    name="customer-time",
    hash_key=CUSTOMER_ID,
    range_key=TIMESTAMP,
    projection="INCLUDE",
    non_key_attributes=HISTORY_ATTRIBUTES,
    access_pattern="analyzer: the customer's transactions in (t - 37 days, t], newest first, for the customer features",
)
TERMINAL_HISTORY = Index(
    name="terminal-time",
    hash_key=TERMINAL_ID,
    range_key=TIMESTAMP,
    projection="INCLUDE",
    non_key_attributes=HISTORY_ATTRIBUTES,
    access_pattern="analyzer: the terminal's transactions and known labels in (t - 37 days, t] for terminal risk",
)
BY_DAY = Index(
    name="day-time",
    hash_key=DAY_SHARD,
    range_key=TIMESTAMP,
    projection="ALL",
    non_key_attributes=(),
    access_pattern="reporter: every transaction of one UTC day, one query per shard; cost follows the day's volume",
)
INDEXES = (CUSTOMER_HISTORY, TERMINAL_HISTORY, BY_DAY)


@dataclass(frozen=True)
class TableLayout:
    hash_key: str = TRANSACTION_ID
    range_key: str = TIMESTAMP
    indexes: tuple[Index, ...] = INDEXES

    def attribute_types(self) -> dict[str, str]:
        """Every key attribute of the table and its indexes with its DynamoDB type."""
        names = [self.hash_key, self.range_key]
        for index in self.indexes:
            names += [index.hash_key, index.range_key]
        return {name: ("N" if name == TIMESTAMP else "S") for name in dict.fromkeys(names)}


TRANSACTIONS = TableLayout()


def day_shard(timestamp_ms: int, transaction_id: str) -> str:
    """The by-day index key: the UTC date plus a stable shard derived from the transaction id."""
    day = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC).strftime("%Y-%m-%d")
    shard = int.from_bytes(hashlib.blake2s(transaction_id.encode(), digest_size=2).digest(), "big") % DAY_SHARDS
    return f"{day}#{shard}"


def day_shards(day: str) -> list[str]:
    """All by-day index keys of one UTC date (YYYY-MM-DD)."""
    return [f"{day}#{shard}" for shard in range(DAY_SHARDS)]


def boto3_create_table_args(table_name: str, layout: TableLayout = TRANSACTIONS) -> dict[str, Any]:
    """`create_table` arguments for local mode and tests (on-demand, stream with both images)."""
    indexes = []
    for index in layout.indexes:
        projection: dict[str, Any] = {"ProjectionType": index.projection}
        if index.non_key_attributes:
            projection["NonKeyAttributes"] = list(index.non_key_attributes)
        indexes.append(
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.hash_key, "KeyType": "HASH"},
                    {"AttributeName": index.range_key, "KeyType": "RANGE"},
                ],
                "Projection": projection,
            }
        )
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in layout.attribute_types().items()],
        "KeySchema": [
            {"AttributeName": layout.hash_key, "KeyType": "HASH"},
            {"AttributeName": layout.range_key, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": indexes,
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }
