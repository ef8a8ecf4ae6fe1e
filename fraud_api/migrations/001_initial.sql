-- fraud-api schema v1: scored transactions and their fraud labels.
--
-- The card is kept only as a keyed HMAC-SHA256 hash (card_hash, with the key version that made
-- it), its BIN and last four digits (PCI DSS 3.4.1 / 3.5.1.1); the CHECK constraints make a PAN
-- impossible to store in those columns. IF NOT EXISTS everywhere so a half-applied manual run
-- cannot block the migrator (which also runs each file in one transaction).

CREATE TABLE IF NOT EXISTS transactions (
    transaction_id          text PRIMARY KEY CHECK (transaction_id ~ '^[A-Za-z0-9_-]{1,64}$'),
    ts                      timestamptz NOT NULL,
    customer_id             text NOT NULL CHECK (length(customer_id) BETWEEN 1 AND 64),
    terminal_id             text NOT NULL CHECK (length(terminal_id) BETWEEN 1 AND 64),
    amount                  numeric(12, 2) NOT NULL CHECK (amount > 0),
    currency                char(3) NOT NULL,
    merchant_category_code  char(4),
    channel                 text NOT NULL,
    card_hash               char(64) NOT NULL CHECK (card_hash ~ '^[0-9a-f]{64}$'),
    card_key_version        text NOT NULL,
    card_bin                char(6) NOT NULL CHECK (card_bin ~ '^[0-9]{6}$'),
    card_last4              char(4) NOT NULL CHECK (card_last4 ~ '^[0-9]{4}$'),
    card_pan_length         smallint NOT NULL CHECK (card_pan_length BETWEEN 12 AND 19),
    -- the decision, written in the same statement as the transaction
    score                   double precision NOT NULL CHECK (score >= 0 AND score <= 1),
    decision                text NOT NULL CHECK (decision IN ('approve', 'review', 'decline')),
    reasons                 jsonb NOT NULL,
    rule_ids                text[] NOT NULL DEFAULT '{}',
    model_version           text NOT NULL,
    review_threshold        double precision NOT NULL,
    decline_threshold       double precision NOT NULL,
    scored_at               timestamptz NOT NULL DEFAULT now(),
    request_id              text,
    -- the confirmed label (chargeback, analyst review), when one arrived; label_time is when it
    -- became known: the scorer ignores it before then and for transactions younger than the
    -- label delay. Kept on the row so history reads need no join.
    label_fraud             boolean,
    label_time              timestamptz,
    label_source            text,
    label_recorded_at       timestamptz,
    label_request_id        text,
    CONSTRAINT label_complete CHECK ((label_fraud IS NULL) = (label_time IS NULL) AND (label_fraud IS NULL) = (label_source IS NULL)),
    CONSTRAINT label_after_transaction CHECK (label_time IS NULL OR label_time >= ts)
);

-- History for the features: one customer's / one terminal's transactions in a time window.
-- Covering indexes (INCLUDE every column the scorer reads) make these index-only scans: a
-- customer's rows are spread over as many heap pages as it has transactions, so visiting the
-- heap would cost one page per history row.
CREATE INDEX IF NOT EXISTS transactions_customer_ts ON transactions (customer_id, ts)
    INCLUDE (transaction_id, amount, terminal_id, label_fraud, label_time);
CREATE INDEX IF NOT EXISTS transactions_terminal_ts ON transactions (terminal_id, ts)
    INCLUDE (transaction_id, amount, customer_id, label_fraud, label_time);
