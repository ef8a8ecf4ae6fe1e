"""Local mode: the whole fraud-detection system on one machine, with no AWS account.

``python -m fraud_local`` (``make local``) starts, on 127.0.0.1 only, an embedded PostgreSQL in place
of Aurora, moto in place of DynamoDB (with its stream), S3, Secrets Manager, SQS and KMS, fraud-api
under uvicorn, a gateway that stands in for the API Gateway REST API (API key, routes, proxy event
shapes) and runs the real processor handler, and a stream poller that feeds the real analyzer
handler. ``LocalStack`` (``fraud_local.stack``) is the same thing as an object, for tests and
benchmarks. See ``python -m fraud_local --help``.
"""
