"""Re-drive transactions the analyzer never scored (an operator tool, not a Lambda handler).

A stream record that failed every retry lands on the failure queue as stream coordinates only,
and stream records expire after 24 hours. The item itself stays in the table with status
RECEIVED, so replaying means: find the day's RECEIVED items through the by-day index (never a
scan), wrap them in INSERT stream records, and invoke the analyzer with them. The analyzer's
conditional update makes a replay of an item scored in the meantime a no-op.

    python -m functions.analyzer.replay --table transactions-prod --date 2026-11-21 \\
        --function lambda-analyzer-prod [--older-than-minutes 15] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any

import boto3

from fraud_common.tables import BY_DAY, TIMESTAMP, TRANSACTION_ID, day_shards
from functions.common import items

BATCH = 100  # the analyzer's batch size in AWS


def stuck_items(table: Any, day: str, older_than_ms: int) -> Iterator[dict[str, Any]]:
    """Every RECEIVED transaction of `day` whose timestamp is before `older_than_ms`."""
    for shard in day_shards(day):
        kwargs: dict[str, Any] = {
            "IndexName": BY_DAY.name,
            "KeyConditionExpression": "#day = :day AND #ts < :before",
            "FilterExpression": "#status = :received",
            "ExpressionAttributeNames": {"#day": BY_DAY.hash_key, "#ts": TIMESTAMP, "#status": "status"},
            "ExpressionAttributeValues": {":day": shard, ":before": older_than_ms, ":received": "RECEIVED"},
        }
        while True:
            page = table.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def stream_event(batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The DynamoDB stream event the analyzer would have received for these INSERTs."""
    records = []
    for index, item in enumerate(batch):
        keys = {TRANSACTION_ID: item[TRANSACTION_ID], TIMESTAMP: item[TIMESTAMP]}
        records.append(
            {
                "eventID": f"replay-{item[TRANSACTION_ID]}",
                "eventName": "INSERT",
                "eventSource": "aws:dynamodb",
                "dynamodb": {
                    "Keys": items.serialize(keys),
                    "NewImage": items.serialize(item),
                    "SequenceNumber": f"replay{index:06d}",
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
            }
        )
    return {"Records": records}


def replay(
    table: Any, lambda_client: Any, function: str, day: str, older_than_ms: int, dry_run: bool
) -> dict[str, int]:
    """Invoke the analyzer on the day's stuck transactions; counts of found and still failing."""
    found = failed = 0
    pending = list(stuck_items(table, day, older_than_ms))
    for start in range(0, len(pending), BATCH):
        batch = pending[start : start + BATCH]
        found += len(batch)
        if dry_run:
            continue
        response = lambda_client.invoke(FunctionName=function, Payload=json.dumps(stream_event(batch)))
        result = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError"):
            failed += len(batch)
        else:
            failed += len(result.get("batchItemFailures", []))
    return {"found": found, "failed": failed}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", required=True, help="the transactions table, e.g. transactions-prod")
    parser.add_argument("--function", required=True, help="the analyzer function, e.g. lambda-analyzer-prod")
    parser.add_argument("--date", required=True, type=date.fromisoformat, help="UTC day, YYYY-MM-DD")
    parser.add_argument(
        "--older-than-minutes", type=int, default=15, help="skip items younger than this (still in flight)"
    )
    parser.add_argument("--dry-run", action="store_true", help="count the stuck items, invoke nothing")
    args = parser.parse_args(argv)
    older_than_ms = int((time.time() - args.older_than_minutes * 60) * 1000)
    table = boto3.resource("dynamodb").Table(args.table)
    counts = replay(table, boto3.client("lambda"), args.function, args.date.isoformat(), older_than_ms, args.dry_run)
    sys.stdout.write(json.dumps(counts) + "\n")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
