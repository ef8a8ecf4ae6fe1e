-- fraud-api schema v2: the request pool's own database user, least privilege.
--
-- With FRAUD_API_DB_IAM_AUTH the service's requests log in as fraud_api with RDS IAM tokens (the
-- task role's rds-db:connect; no password exists), while migrations keep using the RDS-managed
-- master secret. rds_iam exists only in RDS/Aurora, where the master user (rds_superuser) may
-- grant it; elsewhere (local mode, tests) the user is created without it. Safe to run twice.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fraud_api') THEN
        CREATE ROLE fraud_api LOGIN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam')
       AND pg_has_role(current_user, 'rds_iam', 'MEMBER WITH ADMIN OPTION') THEN
        GRANT rds_iam TO fraud_api;
    END IF;
END
$$;

-- Score, read back, label: nothing else (no DELETE, no DDL, no other table).
GRANT USAGE ON SCHEMA public TO fraud_api;
GRANT SELECT, INSERT, UPDATE ON transactions TO fraud_api;
