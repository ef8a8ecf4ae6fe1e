"""The daily fraud report: one UTC day read through the by-day index, written to S3 as JSON and CSV.

Reading: one paginated Query per day shard of the ``day-time`` index (``fraud_common.tables``),
never a Scan, so the cost follows the day's volume and not the table's size. Writing:
``reports/YYYY/MM/DD/report.json`` and ``report.csv`` with SSE-KMS; a re-run overwrites both,
so re-running a day replaces its report.

Definitions used in the report:

* ``fraudRate``: share of scored transactions the model declined (predicted fraud);
  ``flaggedRate`` adds the ones sent to review; ``confirmedFraudRate`` is confirmed frauds over
  labelled transactions (labels usually arrive days later, so it is often null for yesterday).
* amounts are per currency (amounts in different currencies are never added together).
* flagged transactions are those with decision review or decline, card masked (BIN + last 4).
* riskiest terminals / customers: most flagged transactions, then highest mean score.
* ``shadow``: per shadow model version, the day's transactions scored by both the live model and
  the shadow (``shadowDecision`` on the item), the decisions each made at the thresholds in force,
  the share where they agree, and, among labelled ones, the precision of each model's declines.
  Ingestion path only: fraud-api's shadow scores stay in Aurora, which this Lambda cannot reach
  (README, "Shadow scoring").
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from fraud_common import env
from fraud_common.tables import BY_DAY, CUSTOMER_ID, TERMINAL_ID, day_shards
from functions.common import items
from functions.common.aws import client

REPORT_FORMAT_VERSION = 1
MAX_FLAGGED_IN_JSON = 1000
"""The JSON lists the riskiest flagged transactions up to this many; the CSV lists them all."""
TOP_N = 10
CSV_COLUMNS = (
    "transactionId",
    "timestamp",
    "customerId",
    "terminalId",
    "amount",
    "currency",
    "card",
    "score",
    "decision",
    "reasons",
    "modelVersion",
)
_FLAGGED = ("review", "decline")


def report_day(event: Mapping[str, Any], now: datetime) -> date:
    """The day to report: ``event["date"]`` (YYYY-MM-DD) if given, else the UTC day before the
    schedule's ``event["time"]`` (so a retried scheduled event reports the same day), else
    the day before ``now``.

    Raises
    ------
    ValueError
        Malformed date, or a day that has not ended yet.
    """
    raw = event.get("date")
    if raw is not None:
        try:
            day = date.fromisoformat(str(raw))
        except ValueError:
            raise ValueError("event 'date' must be YYYY-MM-DD") from None
        if len(str(raw)) != 10:
            raise ValueError("event 'date' must be YYYY-MM-DD")
    else:
        when = now
        if isinstance(event.get("time"), str):
            try:
                when = datetime.fromisoformat(event["time"])
            except ValueError:
                raise ValueError("event 'time' must be ISO-8601") from None
        day = when.astimezone(UTC).date() - timedelta(days=1)
    if day >= now.astimezone(UTC).date():
        raise ValueError(f"{day.isoformat()} has not ended yet (UTC); only past days can be reported")
    return day


@dataclass
class DayReader:
    """Reads one day's items shard by shard; counts the queries it issued."""

    day: date
    queries: int = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        table = env.require(env.TABLE_NAME)
        for shard in day_shards(self.day.isoformat()):
            params: dict[str, Any] = {
                "TableName": table,
                "IndexName": BY_DAY.name,
                "KeyConditionExpression": "#s = :s",
                "ExpressionAttributeNames": {"#s": BY_DAY.hash_key},
                "ExpressionAttributeValues": {":s": {"S": shard}},
            }
            while True:
                page = client("dynamodb").query(**params)
                self.queries += 1
                for raw in page.get("Items", []):
                    yield items.deserialize(raw)
                if not page.get("LastEvaluatedKey"):
                    break
                params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@dataclass
class _Party:
    transactions: int = 0
    flagged: int = 0
    declined: int = 0
    score_sum: float = 0.0
    scored: int = 0
    max_score: float = 0.0

    def as_dict(self, key_name: str, key: str) -> dict[str, Any]:
        mean = self.score_sum / self.scored if self.scored else None
        return {
            key_name: key,
            "transactions": self.transactions,
            "flagged": self.flagged,
            "declined": self.declined,
            "meanScore": round(mean, 4) if mean is not None else None,
            "maxScore": round(self.max_score, 4),
        }


@dataclass
class _Money:
    transactions: int = 0
    total: Decimal = Decimal(0)
    max: Decimal = Decimal(0)

    def as_dict(self) -> dict[str, Any]:
        mean = self.total / self.transactions if self.transactions else Decimal(0)
        return {
            "transactions": self.transactions,
            "total": f"{self.total:.2f}",
            "mean": f"{mean:.2f}",
            "max": f"{self.max:.2f}",
        }


_DECISIONS = ("approve", "review", "decline")


@dataclass
class _ShadowComparison:
    """One shadow version's day against the live decisions on the same transactions."""

    transactions: int = 0
    agreed: int = 0
    live: Counter[str] = field(default_factory=Counter)
    shadow: Counter[str] = field(default_factory=Counter)
    labelled: int = 0
    # Labelled declines, and how many were confirmed frauds, per model.
    declined: Counter[str] = field(default_factory=Counter)
    declined_fraud: Counter[str] = field(default_factory=Counter)

    def add(self, live: str, shadow: str, label: object) -> None:
        self.transactions += 1
        self.agreed += live == shadow
        self.live[live] += 1
        self.shadow[shadow] += 1
        if not isinstance(label, bool):
            return
        self.labelled += 1
        for model, decision in (("live", live), ("shadow", shadow)):
            if decision == "decline":
                self.declined[model] += 1
                self.declined_fraud[model] += label

    def as_dict(self) -> dict[str, Any]:
        return {
            "transactions": self.transactions,
            "liveDecisions": {d: self.live.get(d, 0) for d in _DECISIONS},
            "shadowDecisions": {d: self.shadow.get(d, 0) for d in _DECISIONS},
            "agreementRate": _rate(self.agreed, self.transactions),
            "labelled": self.labelled,
            "declinePrecision": {
                model: _rate(self.declined_fraud[model], self.declined[model]) for model in ("live", "shadow")
            },
        }


@dataclass
class DayAggregate:
    """Streaming aggregation: memory grows with flagged transactions and distinct parties only."""

    day: date
    total: int = 0
    scored: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    model_versions: Counter[str] = field(default_factory=Counter)
    labelled: int = 0
    confirmed_fraud: int = 0
    amounts: defaultdict[str, _Money] = field(default_factory=lambda: defaultdict(_Money))
    terminals: defaultdict[str, _Party] = field(default_factory=lambda: defaultdict(_Party))
    customers: defaultdict[str, _Party] = field(default_factory=lambda: defaultdict(_Party))
    flagged: list[dict[str, Any]] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    shadow: defaultdict[str, _ShadowComparison] = field(default_factory=lambda: defaultdict(_ShadowComparison))

    def add(self, item: Mapping[str, Any]) -> None:
        if item.get(items.ITEM_TYPE) == items.MARKER:
            return
        scored = item.get(items.STATUS) == items.STATUS_SCORED
        try:
            amount = Decimal(item[items.AMOUNT])
            currency, terminal, customer = str(item[items.CURRENCY]), str(item[TERMINAL_ID]), str(item[CUSTOMER_ID])
            row = _flagged_row(item) if scored else None
        except (KeyError, TypeError, ValueError, ArithmeticError):
            # One damaged item must not cost the whole day's report; it is counted and named.
            self.malformed.append(str(item.get("transactionId")))
            return
        self.total += 1
        money = self.amounts[currency]
        money.transactions += 1
        money.total += amount
        money.max = max(money.max, amount)
        if isinstance(item.get(items.FRAUD_LABEL), bool):
            self.labelled += 1
            self.confirmed_fraud += int(item[items.FRAUD_LABEL])
        parties = (self.terminals[terminal], self.customers[customer])
        for party in parties:
            party.transactions += 1
        if row is None:
            return
        self.scored += 1
        decision, score = str(row["decision"]), float(row["score"])
        self.decisions[decision] += 1
        self.model_versions[str(item.get(items.MODEL_VERSION))] += 1
        for party in parties:
            party.scored += 1
            party.score_sum += score
            party.max_score = max(party.max_score, score)
            party.flagged += decision in _FLAGGED
            party.declined += decision == "decline"
        if decision in _FLAGGED:
            self.flagged.append(row)
        shadow_decision = item.get(items.SHADOW_DECISION)
        if shadow_decision in _DECISIONS:
            shadow = self.shadow[str(item.get(items.SHADOW_MODEL_VERSION))]
            shadow.add(decision, str(shadow_decision), item.get(items.FRAUD_LABEL))

    def report(self, *, generated_at: datetime, queries: int) -> dict[str, Any]:
        self.flagged.sort(key=lambda row: (-row["score"], row["transactionId"]))
        return {
            "reportFormatVersion": REPORT_FORMAT_VERSION,
            "date": self.day.isoformat(),
            "generatedAt": generated_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "totals": {
                "transactions": self.total,
                "scored": self.scored,
                "pending": self.total - self.scored,
                "flagged": len(self.flagged),
            },
            "amounts": {currency: money.as_dict() for currency, money in sorted(self.amounts.items())},
            "decisions": {d: self.decisions.get(d, 0) for d in _DECISIONS},
            "fraudRate": _rate(self.decisions["decline"], self.scored),
            "flaggedRate": _rate(self.decisions["review"] + self.decisions["decline"], self.scored),
            "confirmedFraudRate": _rate(self.confirmed_fraud, self.labelled),
            "labelled": self.labelled,
            "modelVersion": self.model_versions.most_common(1)[0][0] if self.model_versions else None,
            "modelVersions": dict(sorted(self.model_versions.items())),
            "riskiestTerminals": _top(self.terminals, "terminalId"),
            "riskiestCustomers": _top(self.customers, "customerId"),
            "flaggedTransactions": self.flagged[:MAX_FLAGGED_IN_JSON],
            "flaggedTransactionsTruncated": len(self.flagged) > MAX_FLAGGED_IN_JSON,
            "source": {"index": BY_DAY.name, "queries": queries},
            "malformedItems": self.malformed[:MAX_FLAGGED_IN_JSON],
            "shadow": {version: comparison.as_dict() for version, comparison in sorted(self.shadow.items())},
        }


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


def _top(parties: Mapping[str, _Party], key_name: str) -> list[dict[str, Any]]:
    risky = [(k, p) for k, p in parties.items() if p.flagged]
    risky.sort(key=lambda kp: (-kp[1].flagged, -(kp[1].score_sum / max(kp[1].scored, 1)), kp[0]))
    return [p.as_dict(key_name, k) for k, p in risky[:TOP_N]]


def _flagged_row(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "transactionId": item["transactionId"],
        "timestamp": items.iso_ms(int(item["timestamp"])),
        "customerId": item[CUSTOMER_ID],
        "terminalId": item[TERMINAL_ID],
        "amount": f"{Decimal(item[items.AMOUNT]):.2f}",
        "currency": item[items.CURRENCY],
        "card": items.masked_card(item),
        "score": round(float(item[items.SCORE]), 6),
        "decision": item[items.DECISION],
        "reasons": list(item.get(items.REASONS) or []),
        "modelVersion": item.get(items.MODEL_VERSION),
    }


def _cell(value: Any) -> str:
    text = " | ".join(map(str, value)) if isinstance(value, list) else ("" if value is None else str(value))
    # Spreadsheet formula injection: a cell starting with = + - @ is shown as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def to_csv(flagged: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in flagged:
        writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
    return buffer.getvalue()


def report_prefix(day: date) -> str:
    return f"reports/{day:%Y/%m/%d}/"


def run(event: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """Build the report of the requested day and write it; returns a short summary."""
    day = report_day(event, now)
    reader = DayReader(day)
    aggregate = DayAggregate(day)
    for item in reader:
        aggregate.add(item)
    report = aggregate.report(generated_at=now, queries=reader.queries)
    bucket = env.require(env.REPORTS_BUCKET)
    # The stack's data key, named explicitly: "aws:kms" without a key id means the AWS-managed aws/s3
    # key, not the bucket's default CMK (S3 API reference, PutObject, x-amz-server-side-encryption-
    # aws-kms-key-id). The bucket key (enabled on the bucket too) saves a KMS request per object.
    encryption: dict[str, Any] = {
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": env.require(env.REPORTS_KMS_KEY_ARN),
        "BucketKeyEnabled": True,
    }
    prefix = report_prefix(day)
    s3 = client("s3")
    # CSV first, JSON last: the JSON's presence means the day's report is complete.
    s3.put_object(
        Bucket=bucket,
        Key=prefix + "report.csv",
        Body=to_csv(aggregate.flagged).encode("utf-8"),
        ContentType="text/csv; charset=utf-8",
        **encryption,
    )
    s3.put_object(
        Bucket=bucket,
        Key=prefix + "report.json",
        Body=json.dumps(report, indent=2, ensure_ascii=False).encode("utf-8"),
        ContentType="application/json",
        **encryption,
    )
    return {
        "date": day.isoformat(),
        "transactions": aggregate.total,
        "flagged": len(aggregate.flagged),
        "queries": reader.queries,
        "malformed": len(aggregate.malformed),
        "keys": [prefix + "report.json", prefix + "report.csv"],
    }
