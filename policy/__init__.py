"""CrossGuard policy pack: `pulumi preview --policy-pack policy --policy-pack-config policy/config/<stack>.json`.

Only `__main__.py` builds the PolicyPack (which starts a gRPC server); everything else is importable.
"""
