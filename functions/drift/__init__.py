"""Drift Lambda: daily population stability of the score and the top features, and decision rates."""
