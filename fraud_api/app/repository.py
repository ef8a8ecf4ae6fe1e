"""SQL of fraud-api. Every function takes an autocommit async connection and runs one statement.

Times cross the boundary as epoch seconds (float): ``to_timestamp`` / ``extract(epoch ...)`` on
the server side are cheaper than building a ``datetime`` per history row in Python.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from itertools import compress
from operator import itemgetter, not_
from typing import NamedTuple

from fraud_api.app.core.connect import AsyncConnection
from fraud_scoring import HISTORY_DAYS, History, HistoryItem

DAY_S = 86_400.0

# Two index-only range scans on the covering indexes (customer_id, ts) and (terminal_id, ts),
# tagged by side (last column). A row that is both the customer's and the terminal's comes back
# twice, once per side, as the scorer expects. The columns come in HistoryItem's field order, so a
# row less its tag is a HistoryRow the scorer reads as it is: no Python object is built per row.
# Times come as float8 via date_part (extract() goes through numeric) and results in binary:
# converting ~170 rows per request is a visible share of the request's CPU on both sides. No ORDER
# BY: each index scan already yields its side in time order, and the scorer sorts defensively
# anyway (a server-side sort was ~25 % of the query's cost).
_HISTORY_SQL = """
SELECT transaction_id, date_part('epoch', ts), amount::float8, customer_id, terminal_id,
       label_fraud, date_part('epoch', label_time), true
  FROM transactions
 WHERE customer_id = %(customer)s AND ts > to_timestamp(%(since)s) AND ts <= to_timestamp(%(until)s)
UNION ALL
SELECT transaction_id, date_part('epoch', ts), amount::float8, customer_id, terminal_id,
       label_fraud, date_part('epoch', label_time), false
  FROM transactions
 WHERE terminal_id = %(terminal)s AND ts > to_timestamp(%(since)s) AND ts <= to_timestamp(%(until)s)
"""
_ROW = itemgetter(slice(0, len(HistoryItem._fields)))
_IS_CUSTOMERS = itemgetter(len(HistoryItem._fields))

_INSERT_SQL = """
INSERT INTO transactions (
    transaction_id, ts, customer_id, terminal_id, amount, currency, merchant_category_code, channel,
    card_hash, card_key_version, card_bin, card_last4, card_pan_length,
    score, decision, reasons, rule_ids, model_version, review_threshold, decline_threshold, request_id,
    shadow_score, shadow_model_version)
VALUES (%s, to_timestamp(%s), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (transaction_id) DO NOTHING
"""

_GET_SQL = """
SELECT transaction_id, (extract(epoch FROM ts) * 1000)::bigint, customer_id, terminal_id, amount,
       currency, merchant_category_code, channel, card_hash, card_key_version, card_bin,
       card_last4, card_pan_length, score, decision, reasons, model_version, review_threshold,
       decline_threshold, extract(epoch FROM scored_at)::float8,
       label_fraud, extract(epoch FROM label_time)::float8, label_source
  FROM transactions
 WHERE transaction_id = %s
"""

# One statement. The UPDATE's conditions are on the row itself, so under concurrent feedback
# they are re-checked against the latest version: the label with the latest label time wins
# (feedback can arrive out of order) and a label never predates its transaction.
_LABEL_SQL = """
WITH cur AS (
    SELECT ts, label_fraud, label_time, label_source FROM transactions WHERE transaction_id = %(id)s
), upd AS (
    UPDATE transactions
       SET label_fraud = %(fraud)s, label_time = to_timestamp(%(label_time)s), label_source = %(source)s,
           label_recorded_at = now(), label_request_id = %(request_id)s
     WHERE transaction_id = %(id)s AND ts <= to_timestamp(%(label_time)s)
       AND (label_time IS NULL OR label_time <= to_timestamp(%(label_time)s))
    RETURNING label_fraud, extract(epoch FROM label_time)::float8 AS label_epoch, label_source
)
SELECT extract(epoch FROM cur.ts)::float8, upd.label_fraud, upd.label_epoch, upd.label_source,
       cur.label_fraud, extract(epoch FROM cur.label_time)::float8, cur.label_source
  FROM (SELECT 1) one LEFT JOIN cur ON true LEFT JOIN upd ON true
"""


class NewTransaction(NamedTuple):
    """A scored transaction as stored: no PAN, only its keyed hash, BIN and last four.

    A NamedTuple rather than a frozen dataclass: one is built per decision, and a frozen
    dataclass sets its 23 fields one ``object.__setattr__`` call at a time."""

    transaction_id: str
    timestamp: float
    customer_id: str
    terminal_id: str
    amount: Decimal
    currency: str
    merchant_category_code: str | None
    channel: str
    card_hash: str
    card_key_version: str
    card_bin: str
    card_last4: str
    card_pan_length: int
    score: float
    decision: str
    reasons: tuple[str, ...]
    rule_ids: tuple[str, ...]
    model_version: str
    review_threshold: float
    decline_threshold: float
    request_id: str | None
    shadow_score: float | None
    """The shadow model's score (never used for the decision); None without a shadow or when it failed."""
    shadow_model_version: str | None


@dataclass(frozen=True)
class Label:
    fraud: bool
    label_time: float
    source: str


@dataclass(frozen=True)
class StoredTransaction:
    transaction_id: str
    timestamp_ms: int
    customer_id: str
    terminal_id: str
    amount: Decimal
    currency: str
    merchant_category_code: str | None
    channel: str
    card_hash: str
    card_key_version: str
    card_bin: str
    card_last4: str
    card_pan_length: int
    score: float
    decision: str
    reasons: tuple[str, ...]
    model_version: str
    review_threshold: float
    decline_threshold: float
    scored_at: float
    label: Label | None


@dataclass(frozen=True)
class LabelOutcome:
    found: bool
    """False: no such transaction."""
    before_transaction: bool
    """The label time precedes the transaction (nothing written)."""
    applied: bool
    """False when a label with a later label time was already recorded (kept)."""
    current: Label | None


async def fetch_history(conn: AsyncConnection, customer_id: str, terminal_id: str, timestamp: float) -> History:
    """The customer's and the terminal's transactions in (t - HISTORY_DAYS, t], with their labels."""
    params = {
        "customer": customer_id,
        "terminal": terminal_id,
        "since": timestamp - HISTORY_DAYS * DAY_S,
        "until": timestamp,
    }
    cur = await conn.execute(_HISTORY_SQL, params, binary=True)
    rows = await cur.fetchall()  # one conversion pass in C, not a Python iteration per row
    # Split by side with C-level iteration only (map, compress): ~170 rows per request.
    sides = list(map(_IS_CUSTOMERS, rows))
    items = list(map(_ROW, rows))
    return History(tuple(compress(items, sides)), tuple(compress(items, map(not_, sides))))


async def insert_transaction(conn: AsyncConnection, tx: NewTransaction) -> bool:
    """Store the transaction and its decision; False if the id exists (nothing written)."""
    cur = await conn.execute(
        _INSERT_SQL,
        (
            tx.transaction_id,
            tx.timestamp,
            tx.customer_id,
            tx.terminal_id,
            tx.amount,
            tx.currency,
            tx.merchant_category_code,
            tx.channel,
            tx.card_hash,
            tx.card_key_version,
            tx.card_bin,
            tx.card_last4,
            tx.card_pan_length,
            tx.score,
            tx.decision,
            # JSON text rather than psycopg's Jsonb wrapper (~10 us more per decision under load):
            # bound untyped, it is parsed by the server into the jsonb column, as Jsonb's is.
            json.dumps(list(tx.reasons)),
            # Most decisions fire no rule: the empty array's literal skips psycopg's list dumper,
            # which inspects the list in Python. Rule ids themselves go through it.
            list(tx.rule_ids) if tx.rule_ids else "{}",
            tx.model_version,
            tx.review_threshold,
            tx.decline_threshold,
            tx.request_id,
            tx.shadow_score,
            tx.shadow_model_version,
        ),
    )
    # The command tag says it, no RETURNING row to fetch: "INSERT 0 1", or "INSERT 0 0" on conflict.
    return cur.rowcount == 1


async def get_transaction(conn: AsyncConnection, transaction_id: str) -> StoredTransaction | None:
    cur = await conn.execute(_GET_SQL, (transaction_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    *tx, fraud, label_time, source = row
    label = Label(fraud, label_time, source) if fraud is not None else None
    (tid, ts_ms, cust, term, amount, cur, mcc, channel, card_hash, key_version, card_bin, last4, pan_len) = tx[:13]
    score, decision, reasons, model_version, review, decline, scored_at = tx[13:]
    return StoredTransaction(
        tid,
        int(ts_ms),
        cust,
        term,
        amount,
        cur,
        mcc,
        channel,
        card_hash,
        key_version,
        card_bin,
        last4,
        int(pan_len),
        score,
        decision,
        tuple(reasons),
        model_version,
        review,
        decline,
        scored_at,
        label,
    )


async def record_label(
    conn: AsyncConnection, transaction_id: str, fraud: bool, label_time: float, source: str, request_id: str | None
) -> LabelOutcome:
    cur = await conn.execute(
        _LABEL_SQL,
        {"id": transaction_id, "fraud": fraud, "label_time": label_time, "source": source, "request_id": request_id},
    )
    row = await cur.fetchone()
    assert row is not None  # the query always returns exactly one row
    tx_ts, new_fraud, new_time, new_source, cur_fraud, cur_time, cur_source = row
    if tx_ts is None:
        return LabelOutcome(False, False, False, None)
    if new_fraud is not None:
        return LabelOutcome(True, False, True, Label(new_fraud, new_time, new_source))
    current = Label(cur_fraud, cur_time, cur_source) if cur_fraud is not None else None
    return LabelOutcome(True, label_time < tx_ts, False, current)
