"""What the counter needs from the platform API (`CounterApi`) and the data that crosses it.

The API side (issue 6) implements the endpoints in docs/terminal-requests.md; the counter depends
only on this Protocol, so `CounterSession` is tested against a fake API server speaking the same
document, and the HTTP client (`http_api.HttpCounterApi`) is the one place that knows the wire.

Invariants: nothing here can hold a PIN; what the card hands over is its auth certificate and one
signature (`CardAnswer`); a service ID travels only in `ServiceIdResult`, to be delivered and
forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NewType, Protocol

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

    def begin_action(self, kind: ActionKind, *, amount: Points) -> PendingAction:
        """Open a redemption or voucher issue of `amount`; return the statement to sign."""
        ...

    def complete_redemption(self, action: PendingAction, answer: CardAnswer) -> RedemptionResult:
        """Send the card's signature over the statement; return the final redemption."""
        ...

    def complete_voucher(self, action: PendingAction, answer: CardAnswer) -> VoucherResult:
        """Send the card's signature over the statement; return the issued voucher."""
        ...
