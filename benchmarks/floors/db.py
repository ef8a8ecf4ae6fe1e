"""FLOOR-DB: FastAPI + a psycopg 3 pool, the history a decision needs read and the transaction written.

Per request: parse the JSON body, one SELECT of the customer's and the terminal's transactions of
the last ``HISTORY_DAYS`` days (the rows fraud-api's features read, with the columns they need,
in binary, fetched in one call without a Python object per row), one INSERT of the row fraud-api
stores (every column, bound as parameters, idempotent on the id), a constant answer. No validation,
card hashing, features, model, logging or metrics: what is left is the least any implementation
pays. The statements are written out here, not imported from fraud-api, so the floor stays put
while fraud-api changes.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI, Request, Response
from psycopg_pool import AsyncConnectionPool

from benchmarks.floors.http import DECISION, ready
from fraud_scoring import HISTORY_DAYS

DAY_S = 86_400.0
CARD_HASH = "0" * 64  # the keyed hash's size; computing it is fraud-api's work, not the floor's

HISTORY_SQL = """
SELECT true, transaction_id, date_part('epoch', ts), amount::float8, terminal_id,
       label_fraud, date_part('epoch', label_time)
  FROM transactions
 WHERE customer_id = %(customer)s AND ts > to_timestamp(%(since)s) AND ts <= to_timestamp(%(until)s)
UNION ALL
SELECT false, transaction_id, date_part('epoch', ts), amount::float8, customer_id,
       label_fraud, date_part('epoch', label_time)
  FROM transactions
 WHERE terminal_id = %(terminal)s AND ts > to_timestamp(%(since)s) AND ts <= to_timestamp(%(until)s)
"""

INSERT_SQL = """
INSERT INTO transactions (
    transaction_id, ts, customer_id, terminal_id, amount, currency, merchant_category_code, channel,
    card_hash, card_key_version, card_bin, card_last4, card_pan_length,
    score, decision, reasons, rule_ids, model_version, review_threshold, decline_threshold, request_id)
VALUES (%s, to_timestamp(%s), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (transaction_id) DO NOTHING
"""

# The same pool settings as fraud-api: FRAUD_API_* from the benchmark's environment.
pool: AsyncConnectionPool = AsyncConnectionPool(
    os.environ["FRAUD_API_DATABASE_URL"],
    min_size=int(os.environ["FRAUD_API_DB_POOL_MIN_SIZE"]),
    max_size=int(os.environ["FRAUD_API_DB_POOL_MAX_SIZE"]),
    kwargs={
        "autocommit": True,
        "options": f"-c TimeZone=UTC -c synchronous_commit={os.environ['FRAUD_API_DB_SYNCHRONOUS_COMMIT']}",
    },
    open=False,
)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    await pool.open(wait=True)
    yield
    await pool.close()


app = FastAPI(openapi_url=None, lifespan=lifespan)
app.get("/api/ready")(ready)


@app.post("/api/v1/score")
async def score(request: Request) -> Response:
    """Reads the history, writes the transaction, answers a constant decision."""
    tx = json.loads(await request.body())
    until = datetime.fromisoformat(tx["timestamp"]).timestamp()
    pan = tx["cardNumber"]
    history = {"customer": tx["customerId"], "terminal": tx["terminalId"], "since": until - HISTORY_DAYS * DAY_S}
    async with pool.connection() as conn:
        cur = await conn.execute(HISTORY_SQL, history | {"until": until}, binary=True)
        await cur.fetchall()
        await conn.execute(
            INSERT_SQL,
            (
                tx["transactionId"],
                until,
                tx["customerId"],
                tx["terminalId"],
                tx["amount"],
                tx["currency"],
                tx.get("merchantCategoryCode"),
                tx["channel"],
                CARD_HASH,
                "1",
                pan[:6],
                pan[-4:],
                len(pan),
                0.0123,
                "approve",
                '["floor"]',
                [],
                "floor",
                0.5,
                0.85,
                None,
            ),
        )
    return Response(DECISION, media_type="application/json")
