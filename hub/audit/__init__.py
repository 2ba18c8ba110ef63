"""The audit log: an append-only, hash-chained record of everything the hub did, with a
per-person visibility index, a Merkle tree with signed checkpoints, and anchors off the machine.

``log`` appends and reads events; ``index`` keeps the who-could-see index; ``merkle`` the RFC 9162
tree; ``checkpoint`` signs tree heads; ``anchors`` publishes them; ``verifier`` is the standalone,
standard-library-only checker that anyone can run offline.
"""

from hub.audit.log import AuditLog, SnapshotMember
from hub.audit.records import GENESIS, canonical, row_digest
from hub.audit.verification import VerifyResult

__all__ = ["GENESIS", "AuditLog", "SnapshotMember", "VerifyResult", "canonical", "row_digest"]
