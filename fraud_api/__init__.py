"""fraud-api: the real-time scoring service (FastAPI + PostgreSQL). Entry point: fraud_api.app.main:app."""
