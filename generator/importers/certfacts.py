"""What sslbind knows about one certificate in a store; filled from a live host by the remote layer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SERVER_AUTH_OID = "1.3.6.1.5.5.7.3.1"


@dataclass(frozen=True)
class CertFacts:
    thumbprint: str  # lowercase hex
    store: str  # the LocalMachine store it was found in
    subject: str
    not_before: datetime  # timezone-aware
    not_after: datetime
    has_private_key: bool
    enhanced_key_usages: tuple[str, ...] = ()  # OIDs; empty means every usage is allowed

    @property
    def server_auth(self) -> bool:
        return not self.enhanced_key_usages or SERVER_AUTH_OID in self.enhanced_key_usages
