"""Which keys act for whom on the ledger: the chain side's configuration.

The API signs as the platform operator (MyKey registry), as the platform verifier (attestations),
as each municipality's granting terminal (grants), treasurer (close period, payments) and admin
(its programme), as each partner (conversions) and as the point-use / voucher terminals
businesses entrusted to it. This record names those addresses; their keys come only from the
encrypted `KeyRing`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

from contracts.deploy import Deployment


class ChainConfigError(ValueError):
    """The chain configuration file is missing a field or has a malformed one."""


@dataclass(frozen=True)
class ChainConfig:
    """Addresses the API acts as, per role; every one must have a key in the KeyRing."""

    rpc_url: str
    deployment: Deployment
    platform: ChecksumAddress
    verifier: ChecksumAddress
    granting_terminals: dict[int, ChecksumAddress] = field(default_factory=dict)
    """Municipality code -> the granting terminal the API grants through."""
    treasurers: dict[int, ChecksumAddress] = field(default_factory=dict)
    """Municipality code -> the account that closes its periods and records its payments."""
    municipal_admins: dict[int, ChecksumAddress] = field(default_factory=dict)
    """Municipality code -> the admin-role account that changes its programme (settings,
    businesses, terminals, event accounts, budget). A municipality missing here falls back to
    its treasurer's account, which must then hold the admin role too."""
    partners: dict[int, ChecksumAddress] = field(default_factory=dict)
    """Partner id -> the partner account that converts its members' points."""
    attestation_ttl_seconds: int = 120
    """How long an attestation stays usable on-chain (its deadline), counted from signing."""
    action_ttl_seconds: int = 120
    """How long a terminal's open redemption or voucher waits for the card's answer."""

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (what `load` reads)."""
        return {
            "rpc_url": self.rpc_url,
            "deployment": self.deployment.to_json(),
            "platform": self.platform,
            "verifier": self.verifier,
            "granting_terminals": {str(k): v for k, v in self.granting_terminals.items()},
            "treasurers": {str(k): v for k, v in self.treasurers.items()},
            "municipal_admins": {str(k): v for k, v in self.municipal_admins.items()},
            "partners": {str(k): v for k, v in self.partners.items()},
            "attestation_ttl_seconds": self.attestation_ttl_seconds,
            "action_ttl_seconds": self.action_ttl_seconds,
        }

    @classmethod
    def load(cls, path: Path) -> ChainConfig:
        """Read a configuration written from `to_json`; raise ChainConfigError naming the field."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                rpc_url=str(raw["rpc_url"]),
                deployment=Deployment.from_json(raw["deployment"]),
                platform=to_checksum_address(raw["platform"]),
                verifier=to_checksum_address(raw["verifier"]),
                granting_terminals=_addresses(raw.get("granting_terminals", {})),
                treasurers=_addresses(raw.get("treasurers", {})),
                municipal_admins=_addresses(raw.get("municipal_admins", {})),
                partners=_addresses(raw.get("partners", {})),
                attestation_ttl_seconds=int(raw.get("attestation_ttl_seconds", 120)),
                action_ttl_seconds=int(raw.get("action_ttl_seconds", 120)),
            )
        except KeyError as missing:
            raise ChainConfigError(f"chain configuration {path} lacks {missing}") from None
        except (OSError, ValueError) as error:
            raise ChainConfigError(f"chain configuration {path} is unreadable: {error}") from None


def _addresses(raw: dict[str, str]) -> dict[int, ChecksumAddress]:
    return {int(key): to_checksum_address(value) for key, value in raw.items()}
