"""The collaborators one running API holds, built once by `create_app` and reached via deps.

Nothing here is global: two apps built in one process (as tests do) share nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.clock import Clock
from api.passwords import PasswordService
from api.ports import CardVerifier, MykeyIdLedger, PointsLedger
from api.service_id_cipher import ServiceIdCipher
from api.services.lockout import LockoutPolicy
from api.services.registration import CandidateSource
from api.settings import ApiSettings
from api.store.database import Store


@dataclass(frozen=True)
class Services:
    """Everything a request handler may need, in one place."""

    settings: ApiSettings
    store: Store
    clock: Clock
    passwords: PasswordService
    lockout: LockoutPolicy
    ledger: MykeyIdLedger
    points: PointsLedger
    cards: CardVerifier
    cipher: ServiceIdCipher
    generate_candidate: CandidateSource
    lookup_hash_key: bytes
    """HMAC key of the keyed lookup hashes (partner member numbers, coupon codes), derived once
    from the service-ID key (api.services.partner_links.derive_lookup_hash_key)."""

    @property
    def mail_domain(self) -> str:
        """The domain of Message-IDs: the part of `mail_from` after the @."""
        return self.settings.mail_from.rpartition("@")[2] or "mykey.invalid"
