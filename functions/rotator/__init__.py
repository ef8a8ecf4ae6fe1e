"""Secrets Manager rotation of the API configuration secret."""
