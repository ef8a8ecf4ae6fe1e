"""Powertools singletons shared by every handler: one logger, tracer and metrics per process.

The logger is where "never log a PAN" is enforced in code (layer 1 of three, see
docs in ``fraud_common.card``): a ``PanRedactingFilter`` rewrites every record, and the JSON
serializer passes the final line through ``redact_pans`` again, which also covers keys appended
with ``append_keys`` and exception tracebacks rendered by the formatter. Service name, level and
metrics namespace come from the environment (``fraud_common.env``).
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from fraud_common import env
from fraud_common.card import PanRedactingFilter, redact_pans

# Metric names (PascalCase nouns), referenced by dashboards and alarms.
METRIC_TRANSACTIONS_RECEIVED = "TransactionsReceived"
METRIC_TRANSACTIONS_REJECTED = "TransactionsRejected"
METRIC_IDEMPOTENT_REPLAYS = "IdempotentReplays"
METRIC_TRANSACTION_CONFLICTS = "TransactionConflicts"
METRIC_TRANSACTION_LOOKUPS = "TransactionLookups"
LABEL_METRICS = {
    "applied": "LabelsApplied",
    "kept": "LabelsKept",
    "unknown": "LabelsUnknown",
    "refused": "LabelsRefused",
}
"""Labels received (route or bulk file row) by outcome; "kept": a later label was in force."""
METRIC_PROCESSOR_ERRORS = "ProcessorErrors"
"""Server-side failures (503 / 500) of the processor."""
METRIC_DECISIONS = "Decisions"
"""Count per outcome, with the dimension ``Decision`` = approve / review / decline."""
METRIC_SCORE_LATENCY = "ScoreLatency"
"""Milliseconds to load history and score one transaction."""
METRIC_RECORDS_FAILED = "RecordsFailed"
METRIC_REPORT_TRANSACTIONS = "ReportTransactions"


def _redacting_json(log: dict[str, Any]) -> str:
    # Same shape as Powertools' default serializer, then one last PAN sweep over the whole line.
    return redact_pans(json.dumps(log, default=str, separators=(",", ":"), ensure_ascii=False))


# ISO-8601 UTC with "T" and "Z" ("2026-11-21T12:00:00.123Z"), not Powertools' default
# "2026-11-21 12:00:00,123+0000": the PAN detector joins digit groups across punctuation and
# spaces, so the default's 21 digits would sometimes hold a "card number" and be masked.
logger = Logger(json_serializer=_redacting_json, utc=True, datefmt="%Y-%m-%dT%H:%M:%S.%FZ")
logger.addFilter(PanRedactingFilter())
# Only botocore: every AWS call the handlers make goes through boto3, and the default (Powertools'
# Tracer.patch -> aws_xray_sdk.core.patch_all) imports every other supported library found on the
# path (sqlite3, requests, httpx, psycopg...) into the cold start, to trace calls no handler makes.
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics(namespace=os.environ.get(env.POWERTOOLS_METRICS_NAMESPACE) or env.METRICS_NAMESPACE)
