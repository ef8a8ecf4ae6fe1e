"""Environment variable names and fixed names of the scheduled jobs (export, retraining), defined once.

The Pulumi ``FraudJobs`` component sets these variables on the ECS task definitions and
``fraud_scoring.export`` reads them; both import the names from here so they cannot drift.
Standard library only (the Pulumi program imports it).
"""

from __future__ import annotations

EXPORT_LOCATION = "FRAUD_EXPORT_LOCATION"
"""Where the export dataset lives: ``s3://<bucket>/exports`` in AWS, a directory in local mode."""
EXPORT_KMS_KEY_ARN = "FRAUD_EXPORT_KMS_KEY_ARN"
"""The stack's data key: every export object is written with SSE-KMS under it (required with s3://)."""
EXPORT_TABLE_NAME = "FRAUD_EXPORT_TABLE_NAME"
"""The DynamoDB transactions table (ingestion path)."""
# The database connection is libpq's own environment, so psycopg reads it without code of ours;
# the export adds only the password (an RDS IAM token signed for PGHOST/PGPORT/PGUSER).
PG_HOST = "PGHOST"
"""Aurora writer endpoint."""
PG_PORT = "PGPORT"
PG_DATABASE = "PGDATABASE"
PG_USER = "PGUSER"
"""EXPORT_DB_USER in AWS."""
PG_SSLMODE = "PGSSLMODE"
"""verify-full in AWS (the jobs image's default), with the RDS CA bundle as PGSSLROOTCERT."""
EXPORT_DATABASE_URL = "FRAUD_EXPORT_DATABASE_URL"
"""Local mode and tests only: a libpq URL with its own credentials, instead of IAM authentication."""

EXPORT_DB_USER = "fraud_export"
"""The export's database user: SELECT on ``transactions`` only (fraud-api migration 004)."""
EXPORT_PREFIX = "exports"
"""Key prefix of the dataset in the data bucket; the export role may write only under it."""
MODELS_BUCKET = "FRAUD_MODELS_BUCKET"
"""Retraining: the model registry's bucket (artifacts and cards under ``models/``)."""
MODEL_POINTER_PARAMETER = "FRAUD_MODEL_POINTER_PARAMETER"
"""Retraining: the SSM parameter holding the promoted version (``/<project>/<env>/model/promoted``)."""
