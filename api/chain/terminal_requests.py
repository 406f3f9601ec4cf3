"""Checking terminal requests: signed, fresh, not replayed, from a registered terminal of a kind.

The checks of docs/terminal-requests.md ("Signing"), in its order: the four `X-MyKey-*` headers
present and well-formed; the timestamp within `MAX_CLOCK_SKEW_SECONDS` of the API's clock; the
EIP-191 signature over the canonical request recovers to the named terminal; the nonce unseen
from that terminal (stored in `terminal_nonces`, whose unique key makes the check atomic even
for two copies arriving at once); then the address is a terminal registered on-chain and its
kind allows the endpoint. The body is hashed byte for byte as received.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.address import to_checksum_address
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.chain.errors import (
    TerminalKeyNotHeld,
    TerminalNotRegistered,
    TerminalRequestInvalid,
    TerminalWrongKind,
)
from api.chain.ledger import TerminalRegistration, Web3Ledger
from api.messages import Message
from api.store.models import TerminalNonce
from contracts.domain import TerminalKind

SCHEME = "MYKEY-TERMINAL-REQUEST-V1"
HEADER_TERMINAL = "x-mykey-terminal"
HEADER_TIMESTAMP = "x-mykey-timestamp"
HEADER_NONCE = "x-mykey-nonce"
HEADER_SIGNATURE = "x-mykey-signature"
MAX_CLOCK_SKEW_SECONDS = 60
NONCE_MEMORY_SECONDS = 2 * MAX_CLOCK_SKEW_SECONDS
"""Nonces are kept twice the skew window: a replay inside it is caught, outside it is stale."""

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_NONCE = re.compile(r"[0-9a-f]{32}")
_SIGNATURE = re.compile(r"0x[0-9a-fA-F]{130}")

KIND_WORDS = {
    TerminalKind.SERVICE_ID_LOOKUP: "service-id-lookup",
    TerminalKind.POINT_USE: "point-use",
    TerminalKind.VOUCHER_ISSUE: "voucher-issue",
    TerminalKind.GRANTING: "granting",
}


@dataclass(frozen=True)
class SignedRequest:
    """A request's signing headers, parsed."""

    terminal: str
    timestamp: int
    nonce: str
    signature: str


def canonical_request(method: str, target: str, timestamp: int, nonce: str, body: bytes) -> str:
    """Return the text a terminal signs (six lines, no trailing newline)."""
    return "\n".join(
        (SCHEME, method.upper(), target, str(timestamp), nonce, hashlib.sha256(body).hexdigest())
    )


def _invalid(english: str) -> TerminalRequestInvalid:
    return TerminalRequestInvalid(Message("端末からの要求を受け付けられません。", english))


def parse_headers(headers: Mapping[str, str]) -> SignedRequest:
    """Return the signing headers; raise TerminalRequestInvalid naming the bad one."""
    lowered = {name.lower(): value for name, value in headers.items()}
    terminal = lowered.get(HEADER_TERMINAL, "")
    timestamp = lowered.get(HEADER_TIMESTAMP, "")
    nonce = lowered.get(HEADER_NONCE, "")
    signature = lowered.get(HEADER_SIGNATURE, "")
    if not _ADDRESS.fullmatch(terminal):
        raise _invalid("X-MyKey-Terminal must be the terminal's address, 0x and 40 hex digits")
    if not timestamp.isdigit():
        raise _invalid("X-MyKey-Timestamp must be Unix seconds")
    if not _NONCE.fullmatch(nonce):
        raise _invalid("X-MyKey-Nonce must be 32 lower-case hex digits")
    if not _SIGNATURE.fullmatch(signature):
        raise _invalid("X-MyKey-Signature must be 0x and a 65-byte signature in hex")
    return SignedRequest(to_checksum_address(terminal), int(timestamp), nonce, signature)


def verify_signature(
    *, method: str, target: str, body: bytes, signed: SignedRequest, now: int
) -> None:
    """Check freshness and the signature (checks 2 and 3); raise TerminalRequestInvalid."""
    if abs(now - signed.timestamp) > MAX_CLOCK_SKEW_SECONDS:
        raise _invalid(
            f"the request's timestamp is {signed.timestamp - now:+d} s from the API's clock "
            f"(at most {MAX_CLOCK_SKEW_SECONDS} s allowed): set the terminal's clock"
        )
    text = canonical_request(method, target, signed.timestamp, signed.nonce, body)
    try:
        signer = Account.recover_message(encode_defunct(text=text), signature=signed.signature)
    except Exception:  # eth-keys raises several types for a malformed signature
        raise _invalid("the signature cannot be read") from None
    if signer.lower() != signed.terminal.lower():
        raise _invalid("the signature is not the named terminal's (or the request was altered)")


def remember_nonce(db: Session, signed: SignedRequest, now: int) -> None:
    """Record the nonce (check 4); raise TerminalRequestInvalid when it was already used."""
    db.execute(delete(TerminalNonce).where(TerminalNonce.seen_at < now - NONCE_MEMORY_SECONDS))
    db.add(TerminalNonce(terminal=signed.terminal, nonce=signed.nonce, seen_at=now))
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise _invalid("this nonce was already used: the request is a replay") from None


def registered_terminal(
    ledger: Web3Ledger, signed: SignedRequest, allowed: frozenset[TerminalKind]
) -> TerminalRegistration:
    """Return the on-chain registration; TerminalNotRegistered / TerminalWrongKind otherwise."""
    registration = ledger.terminal(signed.terminal)
    if registration is None:
        raise TerminalNotRegistered(
            Message(
                "この端末は登録されていません。",
                f"{signed.terminal} is not a terminal registered on the ledger",
            )
        )
    if allowed and registration.kind not in allowed:
        wanted = ", ".join(sorted(KIND_WORDS[kind] for kind in allowed))
        raise TerminalWrongKind(
            Message(
                "この端末の種類ではこの操作はできません。",
                f"terminal {signed.terminal} is a {KIND_WORDS[registration.kind]} terminal; "
                f"this endpoint needs {wanted}",
            )
        )
    return registration


def require_held_key(ledger: Web3Ledger, terminal: str, refusal: Message) -> None:
    """Raise TerminalKeyNotHeld with `refusal` unless the API's key ring holds `terminal`'s key.

    Checked before anything is stored or the card is asked, for every path where the API sends
    the terminal's transaction itself.
    """
    if not ledger.sender.keys.holds(terminal):
        raise TerminalKeyNotHeld(refusal)
