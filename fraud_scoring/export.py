"""The training export: every transaction of a UTC day, its decision and its label, as Parquet.

    python -m fraud_scoring.export [--day YYYY-MM-DD] [--days N]

Both paths are read: the ingestion path's DynamoDB table through its by-day index (one Query per
day shard, so the cost follows the day's volume, never the table's size) and fraud-api's
``transactions`` table in Aurora (a range on ``ts``, served by migration 004's BRIN index). The
dataset is hive-partitioned, one Parquet object per day (``<location>/day=YYYY-MM-DD/part-0.parquet``):
re-exporting a day replaces that object whole (an S3 PUT is atomic; locally, write then rename),
so a run can be repeated or retried at will. Labels arrive days after their transactions, so a run
rewrites the last ``--days`` days (default: the label delay plus one), not only yesterday.

Never a card number, hash, BIN or last four: the columns are ``SCHEMA``'s and nothing else.
Needs pyarrow, psycopg and boto3 (the ``jobs`` dependency group); not imported by the serving path.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fraud_common import jobs
from fraud_common.tables import BY_DAY, CUSTOMER_ID, TERMINAL_ID, TIMESTAMP, TRANSACTION_ID, day_shards
from fraud_scoring.features import LABEL_DELAY_DAYS
from functions.common import items

SCHEMA = pa.schema(
    [
        ("transaction_id", pa.string()),
        ("timestamp", pa.float64()),
        ("customer_id", pa.string()),
        ("terminal_id", pa.string()),
        ("amount", pa.float64()),
        ("fraud", pa.bool_()),
        ("label_time", pa.float64()),
        ("label_source", pa.string()),
        ("score", pa.float64()),
        ("decision", pa.string()),
        ("model_version", pa.string()),
        ("path", pa.string()),
    ]
)
"""The export contract (issue 14): epoch seconds (UTC), nulls where a label or decision is missing."""
COLUMNS = tuple(SCHEMA.names)
PATH_INGESTION = "ingestion"
PATH_API = "api"
PARTITION_FILE = "part-0.parquet"
DEFAULT_DAYS = LABEL_DELAY_DAYS + 1

Row = dict[str, Any]

# fraud-api's rows of one UTC day. Times as float8 epoch seconds, as repository.py reads them.
_API_DAY_SQL = """
SELECT transaction_id, date_part('epoch', ts), customer_id, terminal_id, amount::float8,
       label_fraud, date_part('epoch', label_time), label_source, score, decision, model_version
  FROM transactions
 WHERE ts >= %(start)s AND ts < %(end)s
"""
_API_COLUMNS = COLUMNS[:-1]


class ExportConfigError(ValueError):
    """A missing or invalid setting, named with what is expected."""


class PartitionMissing(LookupError):
    """A day of the requested window was never exported."""


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def ingestion_row(item: Mapping[str, Any]) -> Row:
    """A deserialized DynamoDB transaction item -> an export row (attributes never copied: the card)."""
    label = item.get(items.FRAUD_LABEL)
    score = item.get(items.SCORE)
    return {
        "transaction_id": str(item[TRANSACTION_ID]),
        "timestamp": float(item[TIMESTAMP]) / 1000.0,
        "customer_id": str(item[CUSTOMER_ID]),
        "terminal_id": str(item[TERMINAL_ID]),
        "amount": float(item[items.AMOUNT]),
        "fraud": label if isinstance(label, bool) else None,
        "label_time": items.label_time_seconds(item.get(items.LABEL_TIME)) if isinstance(label, bool) else None,
        "label_source": item.get(items.LABEL_SOURCE) if isinstance(label, bool) else None,
        "score": float(score) if score is not None else None,
        "decision": item.get(items.DECISION),
        "model_version": item.get(items.MODEL_VERSION),
        "path": PATH_INGESTION,
    }


def ingestion_rows(dynamodb: Any, table_name: str, day: date) -> Iterator[Row]:
    """The day's items through the by-day index: one paginated Query per shard (no Scan)."""
    start, end = _day_bounds(day)
    paginator = dynamodb.get_paginator("query")
    for shard in day_shards(day.isoformat()):
        pages = paginator.paginate(
            TableName=table_name,
            IndexName=BY_DAY.name,
            KeyConditionExpression="#k = :k AND #t BETWEEN :lo AND :hi",
            ExpressionAttributeNames={"#k": BY_DAY.hash_key, "#t": BY_DAY.range_key},
            ExpressionAttributeValues=items.serialize(
                {":k": shard, ":lo": int(start.timestamp() * 1000), ":hi": int(end.timestamp() * 1000) - 1}
            ),
        )
        for page in pages:
            for raw in page["Items"]:
                yield ingestion_row(items.deserialize(raw))


def api_rows(conn: Any, day: date) -> Iterator[Row]:
    """fraud-api's transactions of the day (``conn``: a psycopg connection)."""
    start, end = _day_bounds(day)
    for record in conn.execute(_API_DAY_SQL, {"start": start, "end": end}):
        yield {**dict(zip(_API_COLUMNS, record, strict=True)), "path": PATH_API}


def to_table(rows: Iterable[Row]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=SCHEMA)


class Store(Protocol):
    """Where day partitions live: whole objects, replaced atomically."""

    def put(self, day: date, data: bytes) -> None: ...

    def get(self, day: date) -> bytes | None: ...


def partition_key(day: date) -> str:
    return f"day={day.isoformat()}/{PARTITION_FILE}"


@dataclass(frozen=True)
class DirectoryStore:
    """Local mode and tests: partitions under a directory."""

    root: Path

    def put(self, day: date, data: bytes) -> None:
        target = self.root / partition_key(day)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_suffix(".tmp")
        staged.write_bytes(data)
        staged.replace(target)  # readers see the old partition or the new one, never half of one

    def get(self, day: date) -> bytes | None:
        target = self.root / partition_key(day)
        return target.read_bytes() if target.exists() else None


@dataclass(frozen=True)
class S3Store:
    """Partitions under ``s3://bucket/prefix/``, each written with SSE-KMS under the stack's key."""

    client: Any
    bucket: str
    prefix: str
    kms_key_arn: str | None = None

    def put(self, day: date, data: bytes) -> None:
        if not self.kms_key_arn:
            # Without a key id S3 would use the AWS-managed aws/s3 key, which the stack's policies do not govern.
            raise ExportConfigError(f"{jobs.EXPORT_KMS_KEY_ARN} is required to write to s3://")
        self.client.put_object(
            Bucket=self.bucket,
            Key=f"{self.prefix}/{partition_key(day)}".lstrip("/"),
            Body=data,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=self.kms_key_arn,
        )

    def get(self, day: date) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=f"{self.prefix}/{partition_key(day)}".lstrip("/"))
        except self.client.exceptions.NoSuchKey:
            return None
        data: bytes = response["Body"].read()
        return data


def open_store(location: str, kms_key_arn: str | None = None, s3_client: Any = None) -> Store:
    """``s3://bucket/prefix`` or a directory."""
    if location.startswith("s3://"):
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        if not bucket:
            raise ExportConfigError(f"{jobs.EXPORT_LOCATION} = {location!r}: expected s3://<bucket>/<prefix>")
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        return S3Store(s3_client, bucket, prefix.strip("/"), kms_key_arn)
    return DirectoryStore(Path(location))


def write_day(store: Store, day: date, rows: Iterable[Row]) -> int:
    """Replace the day's partition with ``rows`` (an empty day is written too: "exported, nothing
    happened" differs from "never exported"). Returns the row count."""
    table = to_table(rows)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    store.put(day, buffer.getvalue())
    return table.num_rows


def read_labelled_window(location: str | Store, start: date | str, end: date | str) -> pd.DataFrame:
    """Every exported transaction of the days in [start, end), with ``COLUMNS`` as the contract types.

    Raises
    ------
    PartitionMissing
        Naming the days of the window that were never exported (training on a silently
        shortened window would look like a good model trained on less data).
    """
    store = open_store(location) if isinstance(location, str) else location
    first, stop = date.fromisoformat(str(start)), date.fromisoformat(str(end))
    days = [first + timedelta(days=n) for n in range((stop - first).days)]
    tables, missing = [], []
    for day in days:
        data = store.get(day)
        if data is None:
            missing.append(day.isoformat())
        else:
            tables.append(pq.read_table(io.BytesIO(data), schema=SCHEMA))
    if missing:
        raise PartitionMissing(f"days never exported: {', '.join(missing)} (run python -m fraud_scoring.export)")
    table = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
    frame = table.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
    return frame.sort_values(["timestamp", "transaction_id"], kind="stable").reset_index(drop=True)


def _connect(env: Mapping[str, str]) -> Any:
    """A read-only session as the export user: IAM token in AWS, EXPORT_DATABASE_URL locally."""
    import psycopg

    url = env.get(jobs.EXPORT_DATABASE_URL)
    if url:
        conn = psycopg.connect(url, autocommit=True)
    else:
        missing = [name for name in (jobs.PG_HOST, jobs.PG_USER, jobs.PG_DATABASE) if not env.get(name)]
        if missing:
            raise ExportConfigError(
                f"set {', '.join(missing)} (Aurora, with IAM authentication) or {jobs.EXPORT_DATABASE_URL} (local)"
            )
        import boto3

        # RDS IAM authentication: a 15-minute token signed with the task role, no password anywhere.
        token = boto3.client("rds").generate_db_auth_token(
            DBHostname=env[jobs.PG_HOST], Port=int(env.get(jobs.PG_PORT) or 5432), DBUsername=env[jobs.PG_USER]
        )
        conn = psycopg.connect(password=token, autocommit=True)
    conn.read_only = True
    return conn


def export_days(
    days: list[date], env: Mapping[str, str], dynamodb: Any = None, s3_client: Any = None
) -> dict[str, int]:
    """Export each day from both paths; returns rows per day."""
    problems = [f"{name} is not set" for name in (jobs.EXPORT_LOCATION, jobs.EXPORT_TABLE_NAME) if not env.get(name)]
    if problems:
        raise ExportConfigError("; ".join(problems))
    store = open_store(env[jobs.EXPORT_LOCATION], env.get(jobs.EXPORT_KMS_KEY_ARN), s3_client)
    if dynamodb is None:
        import boto3

        dynamodb = boto3.client("dynamodb")
    written: dict[str, int] = {}
    with _connect(env) as conn:
        for day in days:
            rows = [*ingestion_rows(dynamodb, env[jobs.EXPORT_TABLE_NAME], day), *api_rows(conn, day)]
            written[day.isoformat()] = write_day(store, day, rows)
    return written


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: expected YYYY-MM-DD") from None


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fraud_scoring.export", description=__doc__.splitlines()[0])
    parser.add_argument("--day", type=_parse_day, default=None, help="last UTC day to export (default: yesterday)")
    parser.add_argument(
        "--days", type=int, default=DEFAULT_DAYS, help=f"days ending at --day to (re)write (default {DEFAULT_DAYS})"
    )
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error(f"--days must be at least 1, got {args.days}")
    last = args.day or datetime.now(UTC).date() - timedelta(days=1)
    days = [last - timedelta(days=n) for n in reversed(range(args.days))]
    try:
        written = export_days(days, os.environ if env is None else env)
    except ExportConfigError as error:
        sys.stderr.write(f"export: configuration error: {error}\n")
        return 2
    for day, count in written.items():
        sys.stdout.write(f"day={day}: {count} rows\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
