-- fraud-api schema v3: with IAM authentication on, the service user can really log in, or the
-- migration fails loudly.
--
-- 002 grants rds_iam to fraud_api only when the migrating user holds it WITH ADMIN OPTION and
-- otherwise skips the grant without a word; every IAM login of the request pool then fails much
-- later with a bare "PAM authentication failed". Applied migrations are never edited (their
-- checksums are checked), so this one closes the gap. "IAM authentication on" is the service's
-- FRAUD_API_DB_IAM_AUTH, which the runner passes as the session setting fraud.db_iam_auth (what the
-- ECS task runs on Aurora). Without it (local mode, tests, plain PostgreSQL) nothing happens here.

DO $$
BEGIN
    IF coalesce(current_setting('fraud.db_iam_auth', true), 'off') <> 'on' THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam') THEN
        RAISE EXCEPTION 'IAM database authentication is on (FRAUD_API_DB_IAM_AUTH) but this server has no rds_iam role'
            USING HINT = 'IAM authentication exists only on RDS and Aurora; turn FRAUD_API_DB_IAM_AUTH off elsewhere.';
    END IF;
    IF pg_has_role('fraud_api', 'rds_iam', 'MEMBER') THEN
        RETURN;
    END IF;
    IF NOT pg_has_role(current_user, 'rds_iam', 'MEMBER WITH ADMIN OPTION') THEN
        RAISE EXCEPTION 'cannot grant rds_iam to fraud_api: the migrating user % lacks the admin option on rds_iam, '
                        'so the service could never log in with IAM tokens', current_user
            USING HINT = 'Run the migrations as the RDS master user (rds_superuser), or have it run: GRANT rds_iam TO fraud_api;';
    END IF;
    GRANT rds_iam TO fraud_api;
END
$$;
