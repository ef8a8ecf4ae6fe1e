"""The naming helper: `{resource-type}-{purpose}-{environmentSuffix}`, within each service's rules."""

from __future__ import annotations

import pytest

from components.config import MAX_SUFFIX_LENGTH
from components.naming import InvalidNameError, Kind, Namer

NAMER = Namer("dev", "123456789012")


def test_naming_pattern_is_type_purpose_suffix() -> None:
    assert NAMER.name(Kind.LOAD_BALANCER, "fraud-api") == "alb-fraud-api-dev"
    assert NAMER.name(Kind.KMS_ALIAS, "data") == "alias/kms-data-dev"
    assert NAMER.name(Kind.LOG_GROUP, "audit") == "/fraud/audit-dev"


def test_naming_globally_unique_names_end_with_the_account() -> None:
    assert NAMER.name(Kind.BUCKET, "reports") == "s3-reports-dev-123456789012"
    assert NAMER.name(Kind.WAF_LOG_BUCKET, "audit").startswith("aws-waf-logs-")


def test_naming_table_keeps_the_seeded_name() -> None:
    assert NAMER.name(Kind.TABLE, "transactions") == "transactions-dev"


def test_naming_name_over_the_service_limit_is_rejected() -> None:
    with pytest.raises(InvalidNameError, match=r"TARGET_GROUP name .* has 33 characters; the service allows 32"):
        Namer("abcdefghijkl", "1").name(Kind.TARGET_GROUP, "fraud-api-green12")


@pytest.mark.parametrize("purpose", ["Fraud", "fraud_api", "-fraud", "fraud--api", ""])
def test_naming_malformed_purpose_is_rejected(purpose: str) -> None:
    with pytest.raises(InvalidNameError, match="lowercase words joined by single hyphens"):
        NAMER.name(Kind.FUNCTION, purpose)


def test_naming_longest_suffix_fits_the_tightest_names() -> None:
    # The ALB and target group names (32 characters) are the tightest the stack uses.
    namer = Namer("a" * MAX_SUFFIX_LENGTH, "123456789012")
    assert len(namer.name(Kind.TARGET_GROUP, "api-green")) <= 32
    assert len(namer.name(Kind.LOAD_BALANCER, "fraud-api")) <= 32
    assert len(namer.name(Kind.WAF_LOG_BUCKET, "audit")) <= 63
