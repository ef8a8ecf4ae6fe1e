"""Apply a bulk label file (a chargeback file): every row, then a result object, in that order.

A file is ``labels/<name>.csv`` (header ``transactionId,fraud,source,labelTime``) or
``labels/<name>.jsonl`` (one JSON object per line with the same fields), each row a label as
``fraud_common.labels`` defines it. The result is ``label-results/<name>.<ext>.json``.

Nothing half-applied on failure:

* the whole file is read and checked first; a malformed one (too large, not UTF-8, wrong header or
  column count, a line that is not a JSON object, unknown extension) is refused whole: no row is
  applied and the result object says why;
* a row that is well formed but not a valid label (unknown source, a card number in the id, a
  label time in the future...) is refused on its own, with its row number and the reasons; the
  others are applied;
* applying a row is ``functions.common.labels.record_label``, idempotent (latest label time wins,
  a tie applied again), so when an invocation dies midway, Lambda's retry of the same event
  applies the file again and completes it with the same outcome;
* the result object is written last: its presence means every row was handled.

No card number leaves a row: problems are fixed messages naming fields, and an id is shown
through ``redact_pans``.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fraud_common import env
from fraud_common.card import redact_pans
from fraud_common.labels import LABELS_PREFIX, RESULTS_PREFIX, ROW_FIELDS, InvalidLabel, parse_label
from functions.common import labels
from functions.common.aws import client

DEFAULT_MAX_FILE_BYTES = 256 * 1024
"""Why a bound: the file is held and checked whole before any row is applied, and each row is two
DynamoDB calls (a query and a conditional update, ~10 ms) one after another, which must end within
the Lambda timeout (30 s by default: about 3,000 rows, about 256 KiB of CSV). Split larger files."""
_FRAUD_TEXT = {"true": True, "false": False}


class MalformedFile(ValueError):
    """The file cannot be read as label rows; nothing of it is applied."""


@dataclass(frozen=True)
class Row:
    number: int
    """Line number in the file, counting from 1 (the CSV header is line 1)."""
    fields: dict[str, Any]


def result_key(key: str) -> str:
    """``labels/2026/chargebacks.csv`` -> ``label-results/2026/chargebacks.csv.json``."""
    return RESULTS_PREFIX + key.removeprefix(LABELS_PREFIX) + ".json"


def _csv_rows(text: str) -> Iterator[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or [name.strip() for name in header] != list(ROW_FIELDS):
            raise MalformedFile(f"line 1: the header must be {','.join(ROW_FIELDS)}")
        for values in reader:
            if not any(value.strip() for value in values):
                continue
            if len(values) != len(ROW_FIELDS):
                raise MalformedFile(f"line {reader.line_num}: {len(values)} columns, expected {len(ROW_FIELDS)}")
            row: dict[str, Any] = dict(zip(ROW_FIELDS, (value.strip() for value in values), strict=True))
            # CSV has no types: "true"/"false" are the booleans, an empty labelTime means "now".
            row["fraud"] = _FRAUD_TEXT.get(row["fraud"].lower(), row["fraud"])
            row["labelTime"] = row["labelTime"] or None
            yield Row(reader.line_num, row)
    except csv.Error as exc:
        raise MalformedFile(f"line {reader.line_num}: not valid CSV ({exc})") from None


def _jsonl_rows(text: str) -> Iterator[Row]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):
            raise MalformedFile(f"line {number}: not valid JSON") from None
        if not isinstance(data, dict):
            raise MalformedFile(f"line {number}: not a JSON object")
        yield Row(number, data)


def parse_file(key: str, body: bytes, *, max_bytes: int) -> list[Row]:
    """Every row of the file, or MalformedFile naming the first structural problem."""
    if len(body) > max_bytes:
        raise MalformedFile(f"the file is larger than the limit of {max_bytes} bytes; split it")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedFile("the file is not UTF-8 text") from None
    if key.endswith(".csv"):
        return list(_csv_rows(text))
    if key.endswith((".jsonl", ".ndjson")):
        return list(_jsonl_rows(text))
    raise MalformedFile("the file name must end in .csv, .jsonl or .ndjson")


def _shown_id(fields: dict[str, Any]) -> str | None:
    raw = fields.get("transactionId")
    return redact_pans(raw) if isinstance(raw, str) else None


def apply_rows(rows: list[Row], *, now_ms: int) -> list[dict[str, Any]]:
    """The outcome of each row: applied, kept (a later label is in force), unknown id, refused."""
    outcomes: list[dict[str, Any]] = []
    for row in rows:
        outcome: dict[str, Any] = {"row": row.number, "transactionId": _shown_id(row.fields)}
        try:
            label = parse_label(row.fields, transaction_id=None, now_ms=now_ms)
            recorded = labels.record_label(label)
        except InvalidLabel as invalid:
            outcome.update(
                outcome="refused", problems=[{"field": e.field, "message": e.message} for e in invalid.errors]
            )
        except labels.LabelBeforeTransaction as refused:
            outcome.update(outcome="refused", problems=[{"field": "labelTime", "message": str(refused)}])
        except labels.UnknownTransaction:
            outcome.update(outcome="unknown")
        else:
            outcome.update(outcome="applied" if recorded.applied else "kept")
        outcomes.append(outcome)
    return outcomes


def apply_file(bucket: str, key: str, *, now_ms: int | None = None) -> dict[str, Any]:
    """Read, check and apply one label file, then write its result object; returns the result."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    max_bytes = env.optional_int(env.LABELS_MAX_FILE_BYTES, DEFAULT_MAX_FILE_BYTES)
    s3 = client("s3")
    # Range-limited: a file over the bound is refused without reading it all.
    body = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes}")["Body"].read()
    result: dict[str, Any] = {"file": key, "status": "done"}
    try:
        rows = parse_file(key, body, max_bytes=max_bytes)
    except MalformedFile as malformed:
        result.update(status="refused", reason=str(malformed), counts={}, rows=[])
    else:
        outcomes = apply_rows(rows, now_ms=now)
        result.update(counts={"rows": len(outcomes), **Counter(o["outcome"] for o in outcomes)}, rows=outcomes)
    s3.put_object(
        Bucket=bucket,
        Key=result_key(key),
        Body=json.dumps(result, indent=1).encode("utf-8"),
        ContentType="application/json",
        # The stack's data key by name: "aws:kms" alone would mean the AWS-managed aws/s3 key.
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=env.require(env.REPORTS_KMS_KEY_ARN),
        BucketKeyEnabled=True,
    )
    return result
