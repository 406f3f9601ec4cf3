"""What the counter needs from the platform API (`CounterApi`) and the data that crosses it.

The API side (issue 6) implements the endpoints in docs/terminal-requests.md; the counter depends
only on this Protocol, so `CounterSession` is tested against a fake API server speaking the same
document, and the HTTP client (`http_api.HttpCounterApi`) is the one place that knows the wire.

Who signs the ledger transaction (docs/terminal-requests.md, "Who signs the transaction") is a
`SigningMode`: the API with the key it holds, or this terminal with its own key (option B:
`prepare_redemption` returns the unsigned transaction, `relay_redemption` signs and posts it).

Invariants: nothing here can hold a PIN; what the card hands over is its auth certificate and one
signature (`CardAnswer`); a service ID travels only in `ServiceIdResult`, to be delivered and
forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NewType, Protocol

from card_bridge.counter.refusals import CounterError, CounterMessage

Points = NewType("Points", int)
"""An amount of municipal points (1 point = 1 yen at stores)."""


class TerminalKind(StrEnum):
    """The kinds of terminal a business registers (DOMAIN.md flow 4)."""

    SERVICE_ID_LOOKUP = "service-id-lookup"
    POINT_USE = "point-use"
    VOUCHER_ISSUE = "voucher-issue"


class ActionKind(StrEnum):
    """The point movements the counter asks the card to approve."""

    REDEMPTION = "redemption"
    VOUCHER = "voucher"


class SigningMode(StrEnum):
    """Who signs a redemption's ledger transaction: the API (its keystore) or the terminal."""

    API = "api"
    TERMINAL = "terminal"


@dataclass(frozen=True)
class TerminalInfo:
    """The terminal as the platform has it registered."""

    address: str
    business: str
    kinds: tuple[TerminalKind, ...]


@dataclass(frozen=True)
class CardChallenge:
    """A single-use challenge for a lookup: the card signs SHA-256 of `challenge`."""

    challenge_id: str
    challenge: bytes
    expires_at: int


@dataclass(frozen=True)
class PendingAction:
    """A redemption or voucher issue the API has opened; the card signs `statement`."""

    action_id: str
    kind: ActionKind
    amount: Points
    statement: bytes
    expires_at: int


@dataclass(frozen=True)
class CardAnswer:
    """What leaves the card: its auth certificate (DER) and its signature. Never the PIN."""

    certificate_der: bytes
    signature: bytes


@dataclass(frozen=True)
class ServiceIdResult:
    """A service's customer number for the card in front of the terminal (DOMAIN.md flow 2)."""

    service_code: str
    service_name: str
    service_id: str
    valid_today_only: bool
    valid_on: str
    """The day (YYYY-MM-DD, Japan time) the lookup was made; a label is valid that day."""
    address_changed: bool
    address_changed_on: str | None


@dataclass(frozen=True)
class RedemptionResult:
    """A finalised redemption and what is left."""

    action_id: str
    amount: Points
    municipality_code: str
    remaining_balance: Points
    transaction_hash: str


@dataclass(frozen=True)
class UnsignedTransaction:
    """The redeem transaction the API prepared for this terminal to sign (option B)."""

    to: str
    data: bytes
    value: int
    gas: int
    gas_price: int
    chain_id: int
    nonce: int

    def fields(self) -> dict[str, object]:
        """The transaction as eth_account's `sign_transaction` takes it (legacy, EIP-155)."""
        return {
            "to": self.to,
            "data": "0x" + self.data.hex(),
            "value": self.value,
            "gas": self.gas,
            "gasPrice": self.gas_price,
            "chainId": self.chain_id,
            "nonce": self.nonce,
        }


class TransactionRefused(CounterError):
    """The prepared transaction is not the redemption the counter asked for: it was not signed."""

    def message(self) -> CounterMessage:
        return CounterMessage(
            "transaction-refused",
            "サーバーが用意した取引が依頼内容と一致しないため、署名しませんでした。係員へ。",
            "The server's transaction did not match the request, so it was not signed. Tell staff.",
        )


@dataclass(frozen=True)
class PreparedRedemption:
    """A redemption the card approved, waiting for the terminal's signature until `expires_at`."""

    action: PendingAction
    municipality_code: str
    transaction: UnsignedTransaction
    expires_at: int


@dataclass(frozen=True)
class VoucherResult:
    """A voucher issued against points."""

    action_id: str
    voucher_code: str
    face_value: Points
    valid_until: str
    municipality_code: str
    remaining_balance: Points
    transaction_hash: str


class CounterApi(Protocol):
    """The terminal endpoints of the platform API, as the counter uses them.

    Every method raises an `ApiRefusal` subclass for a refusal the API states, and
    `ApiUnavailable` when the API cannot be reached or breaks the protocol.
    """

    def describe_terminal(self) -> TerminalInfo:
        """Return this terminal's registration (business, kinds)."""
        ...

    def begin_lookup(self, *, service_code: str) -> CardChallenge:
        """Open a service-ID lookup for `service_code`; return the challenge for the card."""
        ...

    def complete_lookup(self, challenge: CardChallenge, answer: CardAnswer) -> ServiceIdResult:
        """Send the card's answer; return the customer number with its validity and flags."""
        ...

    def begin_action(
        self, kind: ActionKind, *, amount: Points, signing: SigningMode = SigningMode.API
    ) -> PendingAction:
        """Open a redemption or voucher issue of `amount`; return the statement to sign.

        `signing` TERMINAL (redemptions only) asks for option B: the card answer then gives
        the unsigned transaction (`prepare_redemption`) instead of a final redemption.
        """
        ...

    def prepare_redemption(self, action: PendingAction, answer: CardAnswer) -> PreparedRedemption:
        """Option B: send the card's answer; return the unsigned redeem transaction."""
        ...

    def relay_redemption(self, prepared: PreparedRedemption) -> RedemptionResult:
        """Option B: sign the prepared transaction with the terminal's key, have it relayed.

        Raises TransactionRefused (nothing signed) when the transaction is not a redeem of
        exactly the action's amount; returns the final redemption.
        """
        ...

    def complete_redemption(self, action: PendingAction, answer: CardAnswer) -> RedemptionResult:
        """Send the card's signature over the statement; return the final redemption."""
        ...

    def complete_voucher(self, action: PendingAction, answer: CardAnswer) -> VoucherResult:
        """Send the card's signature over the statement; return the issued voucher."""
        ...
