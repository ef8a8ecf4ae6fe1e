"""Names of CloudWatch metrics that the code emitting them and the stack's alarms and dashboard both
use, so both import them from here. Standard library only."""

from __future__ import annotations

SCORE_PSI = "ScorePSI"
"""PSI of the day's scores against the model's training reference (dimensionless)."""
FEATURE_PSI = "FeaturePSI"
"""PSI of one of the model's ten most important features, dimension ``FEATURE``. Also published
without that dimension (a second EMF dimension set), so its Maximum is the largest feature PSI of
the day whichever features the promoted model ranks first: one alarm needs no feature names."""
FEATURE = "Feature"
REVIEW_RATE = "ReviewRate"
"""Percent of the day's scored transactions sent to review."""
DECLINE_RATE = "DeclineRate"
"""Percent of the day's scored transactions declined."""
MODEL_REFUSED = "ModelRefused"
"""Promoted (or shadow) model versions the analyzer or fraud-api refused: the artifact failed validation
and the previous model kept serving. Counted by a metric filter on their log groups (the registry's
refusal log line), not emitted by the code."""
