"""Entry point the Pulumi CLI runs: build the pack from the rules and serve it. Nothing else here.

Constructing PolicyPack starts the analyzer's gRPC server and blocks, so tests import `pci_rules`
instead of this file.
"""

from pci_rules import PACK_NAME, POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name=PACK_NAME, policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
