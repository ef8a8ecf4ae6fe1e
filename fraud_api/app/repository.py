"""SQL of fraud-api. Every function takes an autocommit connection and runs one statement.

Times cross the boundary as epoch seconds (float): ``to_timestamp`` / ``extract(epoch ...)`` on
the server side are cheaper than building a ``datetime`` per history row in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from psycopg.types.json import Jsonb

from fraud_api.app.core.db import Connection
from fraud_scoring import HISTORY_DAYS, History, HistoryItem

DAY_S = 86_400.0

# Two index range scans (customer_id, ts) and (terminal_id, ts), tagged by side. A row that is
# both the customer's and the terminal's comes back twice, once per side, as the scorer expects.
_HISTORY_SQL = """
SELECT true, t.transaction_id, extract(epoch FROM t.ts)::float8, t.amount::float8, t.customer_id, t.terminal_id,
       l.fraud, extract(epoch FROM l.label_time)::float8
  FROM transactions t LEFT JOIN labels l ON l.transaction_id = t.transaction_id
 WHERE t.customer_id = %(customer)s AND t.ts > to_timestamp(%(since)s) AND t.ts <= to_timestamp(%(until)s)
UNION ALL
SELECT false, t.transaction_id, extract(epoch FROM t.ts)::float8, t.amount::float8, t.customer_id, t.terminal_id,
       l.fraud, extract(epoch FROM l.label_time)::float8
  FROM transactions t LEFT JOIN labels l ON l.transaction_id = t.transaction_id
 WHERE t.terminal_id = %(terminal)s AND t.ts > to_timestamp(%(since)s) AND t.ts <= to_timestamp(%(until)s)
 ORDER BY 3
"""

_INSERT_SQL = """
INSERT INTO transactions (
    transaction_id, ts, customer_id, terminal_id, amount, currency, merchant_category_code, channel,
    card_hash, card_key_version, card_bin, card_last4, card_pan_length,
    score, decision, reasons, rule_ids, model_version, review_threshold, decline_threshold, request_id)
VALUES (%s, to_timestamp(%s), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (transaction_id) DO NOTHING
RETURNING 1
"""

_GET_SQL = """
SELECT t.transaction_id, (extract(epoch FROM t.ts) * 1000)::bigint, t.customer_id, t.terminal_id, t.amount,
       t.currency, t.merchant_category_code, t.channel, t.card_hash, t.card_key_version, t.card_bin,
       t.card_last4, t.card_pan_length, t.score, t.decision, t.reasons, t.model_version, t.review_threshold,
       t.decline_threshold, extract(epoch FROM t.scored_at)::float8,
       l.fraud, extract(epoch FROM l.label_time)::float8, l.source
  FROM transactions t LEFT JOIN labels l ON l.transaction_id = t.transaction_id
 WHERE t.transaction_id = %s
"""

# One statement: the transaction must exist and the label must not predate it; a label older
# than the one already recorded does not replace it (feedback can arrive out of order).
_LABEL_SQL = """
WITH tx AS (
    SELECT transaction_id, ts FROM transactions WHERE transaction_id = %(id)s
), upsert AS (
    INSERT INTO labels (transaction_id, fraud, label_time, source, request_id)
    SELECT tx.transaction_id, %(fraud)s, to_timestamp(%(label_time)s), %(source)s, %(request_id)s
      FROM tx WHERE to_timestamp(%(label_time)s) >= tx.ts
    ON CONFLICT (transaction_id) DO UPDATE
       SET fraud = EXCLUDED.fraud, label_time = EXCLUDED.label_time, source = EXCLUDED.source,
           recorded_at = now(), request_id = EXCLUDED.request_id
     WHERE labels.label_time <= EXCLUDED.label_time
    RETURNING fraud, extract(epoch FROM label_time)::float8, source
)
SELECT extract(epoch FROM (SELECT ts FROM tx))::float8, u.fraud, u.label_time, u.source,
       l.fraud, extract(epoch FROM l.label_time)::float8, l.source
  FROM (SELECT 1) one
  LEFT JOIN upsert u (fraud, label_time, source) ON true
  LEFT JOIN labels l ON l.transaction_id = %(id)s
"""


@dataclass(frozen=True)
class NewTransaction:
    """A scored transaction as stored: no PAN, only its keyed hash, BIN and last four."""

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


def fetch_history(conn: Connection, customer_id: str, terminal_id: str, timestamp: float) -> History:
    """The customer's and the terminal's transactions in (t - HISTORY_DAYS, t], labels joined."""
    params = {
        "customer": customer_id,
        "terminal": terminal_id,
        "since": timestamp - HISTORY_DAYS * DAY_S,
        "until": timestamp,
    }
    customer: list[HistoryItem] = []
    terminal: list[HistoryItem] = []
    for is_customer, tx_id, ts, amount, cust, term, fraud, label_time in conn.execute(_HISTORY_SQL, params):
        item = HistoryItem(tx_id, ts, amount, cust, term, fraud, label_time)
        (customer if is_customer else terminal).append(item)
    return History(tuple(customer), tuple(terminal))


def insert_transaction(conn: Connection, tx: NewTransaction) -> bool:
    """Store the transaction and its decision; False if the id exists (nothing written)."""
    cur = conn.execute(
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
            Jsonb(list(tx.reasons)),
            list(tx.rule_ids),
            tx.model_version,
            tx.review_threshold,
            tx.decline_threshold,
            tx.request_id,
        ),
    )
    return cur.fetchone() is not None


def get_transaction(conn: Connection, transaction_id: str) -> StoredTransaction | None:
    row = conn.execute(_GET_SQL, (transaction_id,)).fetchone()
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


def record_label(
    conn: Connection, transaction_id: str, fraud: bool, label_time: float, source: str, request_id: str | None
) -> LabelOutcome:
    row = conn.execute(
        _LABEL_SQL,
        {"id": transaction_id, "fraud": fraud, "label_time": label_time, "source": source, "request_id": request_id},
    ).fetchone()
    assert row is not None  # the query always returns exactly one row
    tx_ts, new_fraud, new_time, new_source, cur_fraud, cur_time, cur_source = row
    if tx_ts is None:
        return LabelOutcome(False, False, False, None)
    if new_fraud is not None:
        return LabelOutcome(True, False, True, Label(new_fraud, new_time, new_source))
    current = Label(cur_fraud, cur_time, cur_source) if cur_fraud is not None else None
    return LabelOutcome(True, label_time < tx_ts, False, current)


def ping(conn: Connection) -> None:
    conn.execute("SELECT 1").fetchone()
