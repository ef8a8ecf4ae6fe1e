"""Request and response bodies (camelCase on the wire). The transaction request itself is not
here: it is validated by ``fraud_common.transaction.parse_transaction``, shared with the processor
Lambda, and published in OpenAPI from ``fraud_common.transaction_schema.TRANSACTION_JSON_SCHEMA``."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, field_validator
from pydantic.alias_generators import to_camel

from fraud_common.card import PAN_REFUSED, contains_pan


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


# The decision returned by POST /api/v1/score (and by a retry of it)
class ScorePublic(_Camel):
    transaction_id: str
    score: float = Field(ge=0.0, le=1.0, description="Fraud probability-like score in [0, 1].")
    decision: Literal["approve", "review", "decline"]
    reasons: list[str] = Field(description="Why: the model's score against the thresholds, then fired rules.")
    model_version: str


# A confirmed label sent to POST /api/v1/feedback
class FeedbackCreate(_Camel):
    transaction_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    fraud: StrictBool = Field(description="true: confirmed fraud; false: confirmed legitimate.")
    source: Literal["chargeback", "analyst_review", "issuer_report", "customer_report"]
    label_time: AwareDatetime | None = Field(
        default=None,
        description="When the label became known (ISO-8601 with offset). Default: now. Features use a "
        "label only after this time and once the transaction is older than the label delay. Business rules "
        "(400): at most 5 minutes ahead of the server's clock, and not before the transaction's timestamp.",
    )

    @field_validator("transaction_id")
    @classmethod
    def _no_card_number(cls, value: str) -> str:
        # The id is stored with the label and echoed; no scored transaction can have such an id.
        if contains_pan(value):
            raise ValueError(PAN_REFUSED)
        return value


class LabelPublic(_Camel):
    fraud: bool
    label_time: AwareDatetime
    source: str


# The label in force after POST /api/v1/feedback
class FeedbackPublic(_Camel):
    transaction_id: str
    applied: bool = Field(description="false when a label with a later labelTime was already recorded (kept).")
    label: LabelPublic


class CardPublic(_Camel):
    bin: str
    last4: str
    masked: str = Field(description="BIN and last four only (PCI DSS 3.4.1).")


class TransactionPublic(_Camel):
    timestamp: AwareDatetime
    customer_id: str
    terminal_id: str
    amount: str = Field(description="Decimal string in the currency's major unit.")
    currency: str
    merchant_category_code: str | None
    channel: str
    card: CardPublic


class ThresholdsPublic(_Camel):
    review: float
    decline: float


# GET /api/v1/decisions/{id}: the stored decision with the masked transaction and its label
class DecisionPublic(ScorePublic):
    scored_at: AwareDatetime
    thresholds: ThresholdsPublic
    transaction: TransactionPublic
    label: LabelPublic | None


class Problem(_Camel):
    field: str
    message: str


# Every error body: a stable machine-readable code, a message, and the request id to quote
class ErrorPublic(BaseModel):
    error: str
    message: str | None = None
    problems: list[Problem] | None = None
    request_id: str | None = Field(default=None, alias="requestId")


class HealthPublic(BaseModel):
    status: str
