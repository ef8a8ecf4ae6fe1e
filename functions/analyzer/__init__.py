"""Scores new transactions from the DynamoDB stream."""
