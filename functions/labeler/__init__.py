"""Bulk label files dropped under labels/ in the reports bucket (S3 event notifications)."""
