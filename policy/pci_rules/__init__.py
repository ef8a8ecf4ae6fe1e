"""The PCI DSS rules of the fraud-detection policy pack, one module per service family.

Importable as `pci_rules` (the CLI runs the pack from policy/, which it puts on sys.path) and as
`policy.pci_rules` (tests, from the repository root); the modules import each other relatively.

Deliberately absent (reference/pci-controls.md §5): deletion protection (RDS.7, ELB.6, DynamoDB.6,
CKV_AWS_139/150/293), S3 Object Lock (S3.15, CKV_AWS_143) and cross-region replication (S3.7,
CKV_AWS_144). Every stack must be destroyable; none of the deletion-protection controls is
PCI-tagged, and the 10.5.1 evidence they would protect lives in the audit archive, whose retention
pci-s3-log-archive-retention enforces per stack. "No protect / retain_on_delete" is asserted by the
mock tests (tests/infra), because CrossGuard's Python options do not expose retain_on_delete.
"""

from __future__ import annotations

from . import api, compute, data, iam, load_balancer, network, observability, s3
from .base import Rule

PACK_NAME = "fraud-detection-pci-dss"

POLICIES: list[Rule] = [
    *s3.POLICIES,
    *data.POLICIES,
    *network.POLICIES,
    *load_balancer.POLICIES,
    *compute.POLICIES,
    *api.POLICIES,
    *iam.POLICIES,
    *observability.POLICIES,
]

__all__ = ["PACK_NAME", "POLICIES"]
