"""Lambda functions of the ingestion pipeline; each lives in functions/<name>/handler.py."""
