"""The registration statement: the exact bytes a card signs to open a MyKey ID registration.

The platform (`POST /registrations/card-challenges`) issues it, the card helper checks it before
it lets the card sign, and the platform verifies the card's signature over exactly these bytes.
UTF-8 (in fact ASCII) text, four lines joined by a single LF, no trailing newline:

    mykey-ledger/registration/v1
    challenge=<32 random bytes, base64url without padding: 43 characters>
    origin=<the page's origin, scheme://host[:port] exactly as a browser sends it, or "-">
    expires_at=<unix seconds, decimal, no leading zeros>

`origin=-` marks a statement issued to a client that is not a page (curl, the counter's tests);
the card helper never signs one. The first line keeps a registration statement apart from every
other thing this platform asks a card to sign (terminal actions, reserve placements, card
rebindings, the counter's 32-byte service-ID lookup challenges), so a signature over one can never
be replayed as another.

Invariants: `parse_registration_statement(statement.encode()) == statement`, and parsing accepts
only that canonical encoding (one spelling per statement), so the bytes the helper checked are
the bytes the platform stored.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from card_bridge.browser_helper.config import HelperConfigError, normalise_origin
from card_bridge.errors import CardBridgeError

REGISTRATION_HEADER = "mykey-ledger/registration/v1"
"""The statement's first line: names what is signed and the format's version."""

NO_ORIGIN = "-"
"""The origin of a statement issued to a client that is not a browser page."""

CHALLENGE_BYTES = 32
"""The random part: 256 bits make every statement unique and unguessable."""

MAX_ORIGIN_LENGTH = 255
"""Longest origin a statement carries; a DNS name is at most 253 characters."""

MAX_STATEMENT_BYTES = 512
"""Longest statement: header, challenge, a 255-character origin and a timestamp fit well."""

_CHALLENGE_TEXT = re.compile(r"[A-Za-z0-9_-]{43}")
_EXPIRES_TEXT = re.compile(r"0|[1-9][0-9]{0,15}")
_ORIGIN_TEXT = re.compile(r"https?://(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:[0-9]{1,5})?")
"""The characters a browser's Origin header can hold (host names are punycode, lower case)."""


class MalformedChallenge(CardBridgeError):
    """The bytes are not a registration statement; nothing was sent to the card."""


@dataclass(frozen=True)
class RegistrationStatement:
    """One registration statement: the random challenge, the page it is for, its deadline."""

    challenge: bytes
    origin: str
    expires_at: int

    def encode(self) -> bytes:
        """Return the statement's canonical bytes (the ones the card signs)."""
        return "\n".join(
            [
                REGISTRATION_HEADER,
                f"challenge={encode_base64url(self.challenge)}",
                f"origin={self.origin}",
                f"expires_at={self.expires_at}",
            ]
        ).encode("ascii")


def is_exact_origin(text: str) -> bool:
    """Return True if `text` is an origin exactly as a browser's Origin header spells it."""
    if len(text) > MAX_ORIGIN_LENGTH or _ORIGIN_TEXT.fullmatch(text) is None:
        return False
    try:
        return normalise_origin(text) == text
    except HelperConfigError:
        return False


def parse_registration_statement(data: bytes) -> RegistrationStatement:
    """Return the statement `data` encodes; raise MalformedChallenge for anything else."""
    if len(data) > MAX_STATEMENT_BYTES:
        raise MalformedChallenge(
            f"the challenge is longer than a registration statement ({MAX_STATEMENT_BYTES} bytes)"
        )
    try:
        lines = data.decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise _not_a_statement() from None
    if len(lines) != 4 or lines[0] != REGISTRATION_HEADER:
        raise _not_a_statement()
    fields = [line.partition("=") for line in lines[1:]]
    if [(key, separator) for key, separator, _value in fields] != [
        ("challenge", "="),
        ("origin", "="),
        ("expires_at", "="),
    ]:
        raise MalformedChallenge(
            "a registration statement has exactly the lines challenge=, origin=, expires_at="
        )
    challenge_text, origin, expires_text = (value for _key, _separator, value in fields)
    if _CHALLENGE_TEXT.fullmatch(challenge_text) is None:
        raise MalformedChallenge("the statement's challenge is not 43 base64url characters")
    if origin != NO_ORIGIN and not is_exact_origin(origin):
        raise MalformedChallenge(
            f"the statement's origin {origin[:80]!r} is not an exact scheme://host[:port]"
        )
    if _EXPIRES_TEXT.fullmatch(expires_text) is None:
        raise MalformedChallenge("the statement's expires_at is not a decimal unix time")
    statement = RegistrationStatement(
        challenge=decode_base64url(challenge_text),
        origin=origin,
        expires_at=int(expires_text),
    )
    if len(statement.challenge) != CHALLENGE_BYTES or statement.encode() != data:
        raise MalformedChallenge("the statement is not in the platform's exact encoding")
    return statement


def encode_base64url(value: bytes) -> str:
    """Return `value` in base64url without padding (RFC 4648 section 5)."""
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode("ascii")


def decode_base64url(text: str) -> bytes:
    """Return the bytes of unpadded base64url `text`, only if `text` is their exact encoding.

    Raises MalformedChallenge otherwise (padding, the standard alphabet, non-zero spare bits).
    """
    if re.fullmatch(r"[A-Za-z0-9_-]*", text) is None or len(text) % 4 == 1:
        raise MalformedChallenge("the challenge is not base64url without padding")
    try:
        value = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise MalformedChallenge("the challenge is not valid base64url") from None
    if encode_base64url(value) != text:
        raise MalformedChallenge("the challenge is not in the platform's exact encoding")
    return value


def _not_a_statement() -> MalformedChallenge:
    return MalformedChallenge(
        "the challenge must be the registration statement the MyKey platform issued "
        f"({REGISTRATION_HEADER}); the card helper signs nothing else"
    )
