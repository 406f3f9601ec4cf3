"""JPKI user-authentication operations on a My Number Card, over a guarded channel.

`JpkiCard.open(transport)` selects the JPKI application and checks the token; then the auth
certificate and its CA certificate can be read without a PIN, the tries left asked, the PIN
verified and a SHA-256 DigestInfo signed. The counter terminal program and `mykey card` both use
this class; neither sends APDUs of its own.

Invariants: the PIN is checked for shape (4 digits) before it is sent, sent once, never logged,
kept or retried; after a wrong PIN the caller learns the tries left (`WrongPin.tries_left`) and
at zero gets `PinLocked` (63C0, 6983 and 6984 all mean locked).
"""

from __future__ import annotations

import re

from card_bridge.apdu import (
    EF_AUTH_CA_CERTIFICATE,
    EF_AUTH_CERTIFICATE,
    EF_AUTH_PIN,
    EF_AUTH_PRIVATE_KEY,
    EF_TOKEN,
    JPKI_AP_AID,
    MAX_SHORT_LE,
    MY_NUMBER_CARD_TOKEN,
    SIGNATURE_LENGTH,
    SW_AUTHENTICATION_METHOD_BLOCKED,
    SW_REFERENCE_DATA_NOT_USABLE,
    SW_SECURITY_STATUS_NOT_SATISFIED,
    TOKEN_LENGTH,
    ResponseApdu,
    compute_digital_signature,
    der_total_length,
    pin_tries_left_query,
    read_binary,
    select_application,
    select_file,
    sha256_digest_info,
    verify_pin,
)
from card_bridge.channel import GuardedChannel
from card_bridge.errors import (
    CardCommandFailed,
    InvalidPinFormat,
    NotMyNumberCard,
    PinLocked,
    PinRequired,
    WrongPin,
)
from card_bridge.transport import Transport

PIN_PATTERN = re.compile(r"[0-9]{4}")
"""The auth PIN (利用者証明用暗証番号) is exactly 4 digits."""

MAX_CERTIFICATE_LENGTH = 4096
"""Larger than any JPKI certificate EF; a DER header claiming more is a broken card."""

LOCKED_STATUS_WORDS = frozenset(
    {0x63C0, SW_AUTHENTICATION_METHOD_BLOCKED, SW_REFERENCE_DATA_NOT_USABLE}
)


class JpkiCard:
    """The JPKI application of one card, opened and token-checked."""

    def __init__(self, channel: GuardedChannel, token: bytes) -> None:
        self._channel = channel
        self.token = token

    @classmethod
    def open(cls, transport: Transport) -> JpkiCard:
        """Select the JPKI application and check the token; raise NotMyNumberCard otherwise."""
        channel = GuardedChannel(transport)
        response = channel.transmit(select_application(JPKI_AP_AID))
        if not response.ok:
            raise NotMyNumberCard(
                f"the card has no JPKI application (SELECT answered {response.status_word:04X}): "
                "it is not a My Number Card"
            )
        token = _read_file(channel, EF_TOKEN, TOKEN_LENGTH).rstrip(b"\x00 ")
        if token != MY_NUMBER_CARD_TOKEN:
            older = token == b"JPKIAPICCTOKEN"
            raise NotMyNumberCard(
                "this is a Juki card (住基カード), not a My Number Card"
                if older
                else f"unexpected JPKI token {token[:TOKEN_LENGTH]!r}: not a My Number Card"
            )
        return cls(channel, token)

    def read_auth_certificate(self) -> bytes:
        """Return the DER of the user-authentication certificate (EF 000A, no PIN needed)."""
        return _read_certificate(self._channel, EF_AUTH_CERTIFICATE)

    def read_auth_ca_certificate(self) -> bytes:
        """Return the DER of the CA certificate that issued the auth certificate (EF 000B)."""
        return _read_certificate(self._channel, EF_AUTH_CA_CERTIFICATE)

    def pin_tries_left(self) -> int:
        """Return how many PIN tries remain (1..3) without using one; raise PinLocked at 0."""
        _select(self._channel, EF_AUTH_PIN)
        response = self._channel.transmit(pin_tries_left_query())
        if response.status_word in LOCKED_STATUS_WORDS:
            raise PinLocked()
        if response.sw1 == 0x63 and response.sw2 & 0xF0 == 0xC0:
            return response.sw2 & 0x0F
        raise CardCommandFailed(
            f"the card did not report the PIN tries left (SW {response.status_word:04X})",
            response.status_word,
        )

    def verify_pin(self, pin: str) -> None:
        """Send the auth PIN once; raise InvalidPinFormat, WrongPin(tries_left) or PinLocked."""
        if PIN_PATTERN.fullmatch(pin) is None:
            raise InvalidPinFormat("the authentication PIN is 4 digits (0-9); nothing was sent")
        _select(self._channel, EF_AUTH_PIN)
        response = self._channel.transmit(verify_pin(pin.encode("ascii")))
        if response.ok:
            return
        if response.status_word in LOCKED_STATUS_WORDS:
            raise PinLocked()
        if response.sw1 == 0x63 and response.sw2 & 0xF0 == 0xC0:
            raise WrongPin(response.sw2 & 0x0F)
        raise CardCommandFailed(
            f"the card refused VERIFY with SW {response.status_word:04X}", response.status_word
        )

    def sign_digest_info(self, digest_info: bytes) -> bytes:
        """Sign a SHA-256 DigestInfo with the auth key; return the 256-byte signature.

        The card applies PKCS#1 v1.5 padding, so the result verifies as RSASSA-PKCS1-v1_5 with
        SHA-256. Raises PinRequired (no VERIFY in this session), PinLocked, CardCommandFailed.
        """
        _select(self._channel, EF_AUTH_PRIVATE_KEY)
        response = self._channel.transmit(compute_digital_signature(digest_info))
        if response.status_word == SW_SECURITY_STATUS_NOT_SATISFIED:
            raise PinRequired("the card signs only after the PIN is verified in this session")
        if response.status_word in LOCKED_STATUS_WORDS:
            raise PinLocked()
        _require_ok(response, "COMPUTE DIGITAL SIGNATURE")
        if len(response.data) != SIGNATURE_LENGTH:
            raise CardCommandFailed(
                f"the card returned a {len(response.data)}-byte signature, expected 256",
                response.status_word,
            )
        return response.data

    def sign(self, message: bytes) -> bytes:
        """Sign SHA-256(message), e.g. a platform challenge; see `sign_digest_info`."""
        return self.sign_digest_info(sha256_digest_info(message))


def _select(channel: GuardedChannel, file_id: int) -> None:
    _require_ok(channel.transmit(select_file(file_id)), f"SELECT EF {file_id:04X}")


def _require_ok(response: ResponseApdu, what: str) -> None:
    if not response.ok:
        raise CardCommandFailed(
            f"the card refused {what} with SW {response.status_word:04X}", response.status_word
        )


def _read_file(channel: GuardedChannel, file_id: int, length: int) -> bytes:
    _select(channel, file_id)
    return _read_selected(channel, 0, length)


def _read_selected(channel: GuardedChannel, offset: int, length: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < length:
        wanted = min(MAX_SHORT_LE, length - len(chunks))
        response = channel.transmit(read_binary(offset + len(chunks), wanted))
        _require_ok(response, "READ BINARY")
        if not response.data:
            break
        chunks += response.data
    return bytes(chunks[:length])


def _read_certificate(channel: GuardedChannel, file_id: int) -> bytes:
    _select(channel, file_id)
    head = _read_selected(channel, 0, 4)
    try:
        total = der_total_length(head)
    except ValueError as error:
        raise CardCommandFailed(f"EF {file_id:04X} holds no certificate: {error}", 0x9000) from None
    if total > MAX_CERTIFICATE_LENGTH:
        raise CardCommandFailed(f"EF {file_id:04X} claims a {total}-byte certificate", 0x9000)
    return head + _read_selected(channel, len(head), total - len(head))
