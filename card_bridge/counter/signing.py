"""Terminal request signing: an EIP-191 signature by the terminal's secp256k1 key on each request.

The canonical string binds the method, the path with its query, a timestamp, a nonce and the
SHA-256 of the exact body bytes sent (docs/terminal-requests.md, "Signing"). The API recovers the
signer's address, checks it is a terminal registered on-chain, that the timestamp is within
`MAX_CLOCK_SKEW_SECONDS` of its own clock and that the nonce was not seen in that window.

Invariants: the body is hashed as sent, byte for byte (the client serialises once and signs what
it sends); the nonce is 16 random bytes from `secrets`; `verify_request` is the reference check
the API side and the tests' fake API both use.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

SCHEME = "MYKEY-TERMINAL-REQUEST-V1"
"""First line of the canonical string: a signature for this scheme is useless anywhere else."""

HEADER_TERMINAL = "X-MyKey-Terminal"
HEADER_TIMESTAMP = "X-MyKey-Timestamp"
HEADER_NONCE = "X-MyKey-Nonce"
HEADER_SIGNATURE = "X-MyKey-Signature"

MAX_CLOCK_SKEW_SECONDS = 60
"""A request more than this far from the API's clock is refused; nonces are kept twice as long."""

NONCE_BYTES = 16


@dataclass(frozen=True)
class SignedHeaders:
    """The four headers that carry a request's signature."""

    terminal: str
    timestamp: int
    nonce: str
    signature: str

    def as_dict(self) -> dict[str, str]:
        """Return them as HTTP headers."""
        return {
            HEADER_TERMINAL: self.terminal,
            HEADER_TIMESTAMP: str(self.timestamp),
            HEADER_NONCE: self.nonce,
            HEADER_SIGNATURE: self.signature,
        }


def canonical_request(method: str, path: str, timestamp: int, nonce: str, body: bytes) -> str:
    """Return the text the terminal signs: one field a line, `\\n`-joined, no trailing newline.

    `path` is the request target as sent (path and `?query`, no scheme or host), so a request
    cannot be replayed at another endpoint of the same API.
    """
    return "\n".join(
        (SCHEME, method.upper(), path, str(timestamp), nonce, hashlib.sha256(body).hexdigest())
    )


def sign_request(
    account: LocalAccount,
    *,
    method: str,
    path: str,
    body: bytes,
    timestamp: int,
    nonce: str | None = None,
) -> SignedHeaders:
    """Sign one request with EIP-191 (`personal_sign`, version 0x45); return its headers."""
    nonce = nonce or secrets.token_hex(NONCE_BYTES)
    text = canonical_request(method, path, timestamp, nonce, body)
    signed = account.sign_message(encode_defunct(text=text))
    return SignedHeaders(account.address, timestamp, nonce, "0x" + signed.signature.hex())


class RequestSignatureInvalid(ValueError):
    """The headers are missing or malformed, or the signature is not the named terminal's."""


def verify_request(
    *, method: str, path: str, body: bytes, headers: dict[str, str], now: int
) -> tuple[str, str]:
    """Check one request's signature and freshness; return (terminal address, nonce).

    Raises RequestSignatureInvalid; the caller still checks the nonce is unseen and that the
    address is a registered terminal of the right kind.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        terminal = lowered[HEADER_TERMINAL.lower()]
        timestamp = int(lowered[HEADER_TIMESTAMP.lower()])
        nonce = lowered[HEADER_NONCE.lower()]
        signature = lowered[HEADER_SIGNATURE.lower()]
    except (KeyError, ValueError) as error:
        raise RequestSignatureInvalid(f"missing or malformed signing header: {error}") from None
    if abs(now - timestamp) > MAX_CLOCK_SKEW_SECONDS:
        raise RequestSignatureInvalid(
            f"the request's timestamp is {timestamp - now:+d} s from the API's clock "
            f"(at most {MAX_CLOCK_SKEW_SECONDS} s allowed): set the terminal's clock"
        )
    if len(nonce) != 2 * NONCE_BYTES or any(c not in "0123456789abcdef" for c in nonce):
        raise RequestSignatureInvalid("the nonce must be 32 lower-case hex digits")
    text = canonical_request(method, path, timestamp, nonce, body)
    try:
        signer = Account.recover_message(encode_defunct(text=text), signature=signature)
    except Exception as error:  # eth-keys raises several types for a malformed signature
        raise RequestSignatureInvalid(f"the signature cannot be read: {error}") from None
    if signer.lower() != terminal.lower():
        raise RequestSignatureInvalid("the signature is not the named terminal's")
    return signer, nonce
