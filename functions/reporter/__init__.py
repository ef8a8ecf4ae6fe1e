"""Daily fraud report to S3."""
