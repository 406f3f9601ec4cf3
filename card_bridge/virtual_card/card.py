"""The virtual My Number Card itself: an ISO 7816 command in, a response out, no sockets.

It answers like the real card as far as the public tools describe it (JPKI.md): the ATR, the
JPKI application with token, auth certificate, CA certificate, auth key and auth PIN; a PIN
counter of 3 that resets on a right PIN and locks at 0 (63C0 on the last wrong try, 6984 after);
6982 when asked to sign before VERIFY; PKCS#1 v1.5 signatures over the DigestInfo it is given.
It also answers SELECT of the two applications that hold the Individual Number, so a test can
prove the bridge's allow-list stopped them: the APDU log shows they never arrived. Those
applications hold no number here; their files answer 6982.

Invariants: every command is recorded in `apdu_log`, with the data of any VERIFY masked, so the
log itself never holds PIN bytes; the PIN compare is constant-time.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from card_bridge.apdu import (
    EF_AUTH_CA_CERTIFICATE,
    EF_AUTH_CERTIFICATE,
    EF_AUTH_PIN,
    EF_AUTH_PRIVATE_KEY,
    EF_TOKEN,
    FORBIDDEN_APPLICATIONS,
    INS_COMPUTE_DIGITAL_SIGNATURE,
    INS_READ_BINARY,
    INS_SELECT,
    INS_VERIFY,
    JPKI_AP_AID,
    MY_NUMBER_CARD_TOKEN,
    TOKEN_LENGTH,
    CommandApdu,
)
from card_bridge.virtual_card.issuance import CardIssue

ATR = bytes.fromhex("3BE000FF8131FE4514")
"""The contact ATR of a My Number Card."""

PIN_TRIES = 3
CERTIFICATE_EF_SIZE = 0x0800
"""The certificate EFs are padded past the DER, as on the card; readers learn the DER length."""

SW_OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_SECURITY_STATUS_NOT_SATISFIED = b"\x69\x82"
SW_PIN_LOCKED = b"\x69\x84"
SW_COMMAND_NOT_ALLOWED = b"\x69\x86"
SW_WRONG_DATA = b"\x6a\x80"
SW_FILE_NOT_FOUND = b"\x6a\x82"
SW_WRONG_PARAMETERS = b"\x6b\x00"
SW_INS_NOT_SUPPORTED = b"\x6d\x00"
SW_CLA_NOT_SUPPORTED = b"\x6e\x00"


class CardWithdrawn(Exception):
    """Raised by `process` when the card is set to leave the reader at this command."""


@dataclass(frozen=True)
class ApduRecord:
    """One command the card received: masked hex of the command, and the status it answered."""

    command: str
    status_word: str

    @property
    def header(self) -> bytes:
        """CLA INS P1 P2."""
        return bytes.fromhex(self.command[:8])


@dataclass
class VirtualMyNumberCard:
    """The card's state: files, PIN counter, what is selected, and what it has been sent."""

    issue: CardIssue
    pin: str
    tries_left: int = PIN_TRIES
    token: bytes = MY_NUMBER_CARD_TOKEN
    withdraw_at_instruction: int | None = None
    apdu_log: list[ApduRecord] = field(default_factory=list)
    _application: bytes | None = None
    _file_id: int | None = None
    _verified: bool = False

    def power_on(self) -> None:
        """Cold or warm reset: nothing selected, PIN no longer verified."""
        self._application = None
        self._file_id = None
        self._verified = False

    def process(self, raw: bytes) -> bytes:
        """Answer one command APDU; raise CardWithdrawn if set to leave at this instruction."""
        try:
            command = CommandApdu.parse(raw)
        except ValueError:
            self._record(raw.hex().upper(), SW_WRONG_LENGTH)
            return SW_WRONG_LENGTH
        masked = _masked_hex(command, raw)
        if command.ins == self.withdraw_at_instruction:
            self._record(masked, b"")
            raise CardWithdrawn(f"card withdrawn at instruction {command.ins:02X}")
        response = self._dispatch(command)
        self._record(masked, response[-2:])
        return response

    def _record(self, command_hex: str, status: bytes) -> None:
        self.apdu_log.append(ApduRecord(command_hex, status.hex().upper()))

    def _dispatch(self, command: CommandApdu) -> bytes:
        if command.cla not in (0x00, 0x80):
            return SW_CLA_NOT_SUPPORTED
        if command.ins == INS_SELECT:
            return self._select(command)
        if command.ins == INS_READ_BINARY:
            return self._read_binary(command)
        if command.ins == INS_VERIFY:
            return self._verify(command)
        if command.ins == INS_COMPUTE_DIGITAL_SIGNATURE:
            return self._sign(command)
        return SW_INS_NOT_SUPPORTED

    def _files(self) -> dict[int, bytes]:
        if self._application != JPKI_AP_AID:
            return {0x0001: b"", 0x0005: b""}  # the forbidden APs' files: present, never readable
        return {
            EF_TOKEN: self.token.ljust(TOKEN_LENGTH, b" "),
            EF_AUTH_CERTIFICATE: _padded(self.issue.auth_certificate.public_bytes(_DER)),
            EF_AUTH_CA_CERTIFICATE: _padded(self.issue.ca_certificate.public_bytes(_DER)),
            EF_AUTH_PRIVATE_KEY: b"",
            EF_AUTH_PIN: b"",
        }

    def _select(self, command: CommandApdu) -> bytes:
        if command.p1 == 0x04:
            if command.data == JPKI_AP_AID or command.data in FORBIDDEN_APPLICATIONS:
                self._application, self._file_id, self._verified = command.data, None, False
                return SW_OK
            return SW_FILE_NOT_FOUND
        if command.p1 == 0x02 and len(command.data) == 2 and self._application is not None:
            file_id = int.from_bytes(command.data, "big")
            if file_id in self._files():
                self._file_id = file_id
                return SW_OK
            return SW_FILE_NOT_FOUND
        return SW_WRONG_PARAMETERS

    def _read_binary(self, command: CommandApdu) -> bytes:
        if self._application != JPKI_AP_AID:
            return SW_SECURITY_STATUS_NOT_SATISFIED
        if self._file_id not in (EF_TOKEN, EF_AUTH_CERTIFICATE, EF_AUTH_CA_CERTIFICATE):
            return SW_COMMAND_NOT_ALLOWED
        content = self._files()[self._file_id]
        offset = (command.p1 << 8) | command.p2
        if command.p1 & 0x80 or offset > len(content):
            return SW_WRONG_PARAMETERS
        return content[offset : offset + (command.le or 256)] + SW_OK

    def _verify(self, command: CommandApdu) -> bytes:
        if self._file_id != EF_AUTH_PIN or (command.p1, command.p2) != (0x00, 0x80):
            return SW_COMMAND_NOT_ALLOWED
        if self.tries_left == 0:
            return SW_PIN_LOCKED
        if not command.data:
            return bytes((0x63, 0xC0 | self.tries_left))
        if hmac.compare_digest(command.data, self.pin.encode("ascii")):
            self.tries_left = PIN_TRIES
            self._verified = True
            return SW_OK
        self.tries_left -= 1
        self._verified = False
        return bytes((0x63, 0xC0 | self.tries_left))

    def _sign(self, command: CommandApdu) -> bytes:
        if self._file_id != EF_AUTH_PRIVATE_KEY or (command.p1, command.p2) != (0x00, 0x80):
            return SW_COMMAND_NOT_ALLOWED
        if self.tries_left == 0:
            return SW_PIN_LOCKED
        if not self._verified:
            return SW_SECURITY_STATUS_NOT_SATISFIED
        signature = _pkcs1_v15_sign(self.issue.private_key, command.data)
        return SW_WRONG_DATA if signature is None else signature + SW_OK


_DER = serialization.Encoding.DER


def _padded(der: bytes) -> bytes:
    return der.ljust(max(CERTIFICATE_EF_SIZE, len(der)), b"\x00")


def _masked_hex(command: CommandApdu, raw: bytes) -> str:
    if command.ins != INS_VERIFY or not command.data:
        return raw.hex().upper()
    return raw[:5].hex().upper() + "**" * len(command.data)


def _pkcs1_v15_sign(key: rsa.RSAPrivateKey, digest_info: bytes) -> bytes | None:
    """EMSA-PKCS1-v1_5 block type 1 over the given DigestInfo, then RSASP1 (RFC 8017 8.2.1).

    The card pads whatever DigestInfo it is sent, so the emulator does the same with the raw
    RSA primitive rather than hashing again. Returns None when the data is too long to pad.
    """
    numbers = key.private_numbers()
    modulus = numbers.public_numbers.n
    size = (modulus.bit_length() + 7) // 8
    if len(digest_info) > size - 11:
        return None
    block = b"\x00\x01" + b"\xff" * (size - 3 - len(digest_info)) + b"\x00" + digest_info
    message = int.from_bytes(block, "big")
    # RSASP1 with the Chinese remainder theorem (RFC 8017 5.1.2 2b): about 3x faster than m^d mod n.
    first = pow(message, numbers.dmp1, numbers.p)
    second = pow(message, numbers.dmq1, numbers.q)
    combined = second + numbers.q * ((numbers.iqmp * (first - second)) % numbers.p)
    return combined.to_bytes(size, "big")
