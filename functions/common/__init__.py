"""Shared by the handlers: observability singletons, AWS clients, the secret cache, item mapping."""
