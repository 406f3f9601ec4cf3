"""Test harness: a demo consortium on a chain, plus helpers to make residents and attestations.

`Harness` wraps a `LedgerClient` and the demo consortium so a test reads like the rule it
proves: `h.new_resident(14130)`, `h.attest(Action.REDEEM, ...)`, `h.client.redeem(...)`.
Each test makes fresh MyKey IDs, so tests sharing one deployment never see each other's points.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from eth_account import Account
from web3 import Web3

from contracts.attestation import Attestation, new_nonce
from contracts.client import LedgerClient, Sent
from contracts.demo import DemoConsortium
from contracts.domain import Action, MunicipalityCode, MykeyId, Points, TerminalKind, Use
from contracts.transactions import fund

KAWASAKI = MunicipalityCode(14130)
TOSHIMA = MunicipalityCode(13116)
EVIDENCE = b"\x11" * 32


@dataclass
class Harness:
    """One deployed demo consortium and the means to act in it."""

    w3: Web3
    client: LedgerClient
    demo: DemoConsortium
    funder_key: str
    now: Callable[[], int]
    deployer_first_nonce: int = 0
    """The deployer's nonce before this deployment's first transaction."""

    @property
    def platform(self) -> str:
        return self.demo.platform_key

    def new_key(self) -> str:
        """Return a fresh throwaway test key, funded when the chain charges gas."""
        key = "0x" + bytes(Account.create().key).hex()
        fund(self.w3, self.funder_key, Account.from_key(key).address, 10**18)
        return key

    def new_resident(self, home: int = KAWASAKI) -> MykeyId:
        """Register a fresh MyKey ID with home `home`."""
        mykey_id = MykeyId(secrets.token_hex(4).upper())
        self.client.register_mykey(self.platform, mykey_id, home)
        return mykey_id

    def municipality(self, code: int):  # type: ignore[no-untyped-def]
        return self.demo.municipalities[MunicipalityCode(code)]

    def terminal(self, business: str, kind: TerminalKind) -> str:
        return self.demo.businesses[business].terminal_keys[kind]

    def business_id(self, business: str) -> int:
        return self.demo.businesses[business].business_id

    def grant(self, mykey_id: str, code: int, amount: int, *, account: int = 0) -> None:
        self.client.grant(
            self.municipality(code).management_terminal_key,
            mykey_id,
            code,
            amount,
            activity=1,
            account=account,
        )

    def attest(
        self,
        action: Action,
        mykey_id: str,
        code: int,
        amount: int,
        *,
        business: int = 0,
        deadline: int | None = None,
        nonce: int | None = None,
        signer: str | None = None,
    ) -> tuple[Attestation, bytes]:
        """Return an attestation and the verifier's signature over it."""
        attestation = Attestation(
            action=action,
            mykey_id=MykeyId(mykey_id),
            municipality=MunicipalityCode(code),
            amount=Points(amount),
            business=business,
            nonce=new_nonce() if nonce is None else nonce,
            deadline=self.now() + 600 if deadline is None else deadline,
            evidence_hash=EVIDENCE,
        )
        return attestation, self.client.sign(signer or self.demo.verifier_key, attestation)

    def redeem(
        self,
        mykey_id: str,
        code: int,
        amount: int,
        *,
        business: str = "store",
        use: Use | None = None,
        account: int = 0,
    ) -> Sent:
        attestation, signature = self.attest(
            Action.REDEEM, mykey_id, code, amount, business=self.business_id(business)
        )
        return self.client.redeem(
            self.terminal(business, TerminalKind.POINT_USE),
            attestation,
            signature,
            use=Use.LOCAL_STORE if use is None else use,
            account=account,
        )


class refused:  # noqa: N801 - reads as `with refused("InsufficientPoints"):`
    """Context manager asserting the ledger refuses with error `name` and a readable message."""

    def __init__(self, name: str, *fragments: str) -> None:
        self.name = name
        self.fragments = fragments
        self.message = ""

    def __enter__(self) -> refused:
        return self

    def __exit__(self, kind, error, trace) -> bool:  # type: ignore[no-untyped-def]
        from contracts.errors import LedgerRevert

        assert error is not None, f"expected the ledger to refuse with {self.name}, it accepted"
        assert isinstance(error, LedgerRevert), f"expected LedgerRevert {self.name}, got {error!r}"
        assert error.name == self.name, f"expected {self.name}, got {error.name}: {error.message}"
        self.message = error.message
        assert error.message and not error.message.startswith("the ledger refused"), error.message
        for fragment in self.fragments:
            assert fragment in error.message, (fragment, error.message)
        return True
