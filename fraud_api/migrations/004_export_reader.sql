-- fraud-api schema v4: what the daily training export (fraud_scoring.export) needs.
--
-- Its own database user, fraud_export, that may only read transactions (no card number is stored;
-- the export selects no card column either), logging in with RDS IAM tokens from the export task's
-- role when the service does (fraud.db_iam_auth, as in 003, which already proved the grant works).
-- A BRIN index on ts serves the export's one-day range: rows arrive in time order, so a few
-- block ranges per day cover it, and keeping a BRIN index costs the insert path almost nothing
-- (a B-tree on ts would add a page write per scored transaction).

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fraud_export') THEN
        CREATE ROLE fraud_export LOGIN;
    END IF;
    IF coalesce(current_setting('fraud.db_iam_auth', true), 'off') = 'on' THEN
        GRANT rds_iam TO fraud_export;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO fraud_export;
GRANT SELECT ON transactions TO fraud_export;

CREATE INDEX IF NOT EXISTS transactions_ts_brin ON transactions USING brin (ts);
