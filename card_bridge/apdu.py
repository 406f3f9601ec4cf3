"""JPKI command APDUs and response parsing: bytes in, bytes out, no reader, no clock.

Everything here is sans-io so that building and parsing are tested in milliseconds. The values
come from the public card tools (OpenSC card-jpki.c, jpki/myna, jpki-rs); see JPKI.md.

Invariants: only short APDUs (Lc and Le of one byte, Le 256 encoded as 00) are built, which is all
the JPKI application needs; `CommandApdu.redacted()` never shows the data of a VERIFY, so a log
line built from it can never carry PIN bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

JPKI_AP_AID = bytes.fromhex("D392F000260100000001")
"""The JPKI application (公的個人認証AP): the only application this code ever selects."""

FORBIDDEN_APPLICATIONS: dict[bytes, str] = {
    bytes.fromhex(
        "D3921000310001010408"
    ): "券面事項入力補助AP (its EF 0001 is the Individual Number)",
    bytes.fromhex("D3921000310001010402"): "券面事項確認AP (its EF 0005 is the Individual Number)",
}
"""Applications that hold the 12-digit Individual Number; named so a refusal can say why."""

EF_TOKEN = 0x0006
EF_AUTH_CERTIFICATE = 0x000A
EF_AUTH_CA_CERTIFICATE = 0x000B
EF_AUTH_PRIVATE_KEY = 0x0017
EF_AUTH_PIN = 0x0018

INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_VERIFY = 0x20
INS_COMPUTE_DIGITAL_SIGNATURE = 0x2A

SW_OK = 0x9000
SW_SECURITY_STATUS_NOT_SATISFIED = 0x6982
SW_AUTHENTICATION_METHOD_BLOCKED = 0x6983
SW_REFERENCE_DATA_NOT_USABLE = 0x6984
SW_FILE_NOT_FOUND = 0x6A82

TOKEN_LENGTH = 0x20
MY_NUMBER_CARD_TOKEN = b"JPKIAPICCTOKEN2"
"""EF 0006 of a My Number Card; the older Juki card (住基カード) says `JPKIAPICCTOKEN`."""

SHA256_DIGEST_INFO_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
"""DER of DigestInfo{sha256, NULL} up to the 32 digest bytes (RFC 8017 section 9.2, note 1)."""

SIGNATURE_LENGTH = 256
"""The auth key is RSA-2048, so a signature is 256 bytes."""

MAX_SHORT_LE = 256


@dataclass(frozen=True)
class CommandApdu:
    """An ISO 7816-4 short command APDU. `le` None means no response data is expected."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    def to_bytes(self) -> bytes:
        """Encode as a short APDU (cases 1 to 4); raise ValueError when it does not fit."""
        if not all(0 <= byte <= 0xFF for byte in (self.cla, self.ins, self.p1, self.p2)):
            raise ValueError("CLA, INS, P1 and P2 must each be one byte")
        if len(self.data) > 255:
            raise ValueError(f"command data of {len(self.data)} bytes needs an extended APDU")
        encoded = bytes((self.cla, self.ins, self.p1, self.p2))
        if self.data:
            encoded += bytes((len(self.data),)) + self.data
        if self.le is not None:
            if not 1 <= self.le <= MAX_SHORT_LE:
                raise ValueError(f"Le {self.le} is outside 1..256")
            encoded += bytes((self.le % MAX_SHORT_LE,))
        return encoded

    @classmethod
    def parse(cls, raw: bytes) -> CommandApdu:
        """Decode a short APDU; raise ValueError for anything malformed or extended."""
        if len(raw) < 4:
            raise ValueError(f"a command APDU has at least 4 bytes, got {len(raw)}")
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, le=body[0] or MAX_SHORT_LE)
        lc = body[0]
        if lc == 0:
            raise ValueError("extended-length APDUs are not used by the JPKI application")
        if len(body) == 1 + lc:
            return cls(cla, ins, p1, p2, data=bytes(body[1:]))
        if len(body) == 2 + lc:
            return cls(cla, ins, p1, p2, data=bytes(body[1:-1]), le=body[-1] or MAX_SHORT_LE)
        raise ValueError(f"Lc {lc} does not match the {len(body) - 1} bytes that follow it")

    def redacted(self) -> str:
        """Describe the command for a log line: the header, Lc and Le, never VERIFY's data."""
        text = f"{self.cla:02X} {self.ins:02X} {self.p1:02X} {self.p2:02X}"
        if self.data:
            shown = (
                "(masked)"
                if self.ins == INS_VERIFY
                else self.data.hex().upper()
                if self.ins == INS_SELECT
                else f"({len(self.data)} bytes)"
            )
            text += f" Lc={len(self.data):02X} {shown}"
        if self.le is not None:
            text += f" Le={self.le % MAX_SHORT_LE:02X}"
        return text


@dataclass(frozen=True)
class ResponseApdu:
    """A response APDU: data and the two status bytes."""

    data: bytes
    sw1: int
    sw2: int

    @property
    def status_word(self) -> int:
        """SW1 and SW2 as one number, e.g. 0x9000."""
        return (self.sw1 << 8) | self.sw2

    @property
    def ok(self) -> bool:
        """True for 9000."""
        return self.status_word == SW_OK

    @classmethod
    def parse(cls, raw: bytes) -> ResponseApdu:
        """Split the status word off; raise ValueError when fewer than 2 bytes arrived."""
        if len(raw) < 2:
            raise ValueError(f"a response APDU has at least 2 status bytes, got {len(raw)}")
        return cls(bytes(raw[:-2]), raw[-2], raw[-1])

    def to_bytes(self) -> bytes:
        """Encode data followed by SW1 SW2."""
        return self.data + bytes((self.sw1, self.sw2))


def select_application(aid: bytes) -> CommandApdu:
    """SELECT by DF name, no response data: `00 A4 04 0C Lc <AID>`."""
    return CommandApdu(0x00, INS_SELECT, 0x04, 0x0C, aid)


def select_file(file_id: int) -> CommandApdu:
    """SELECT EF by file identifier under the current DF: `00 A4 02 0C 02 <FID>`."""
    return CommandApdu(0x00, INS_SELECT, 0x02, 0x0C, file_id.to_bytes(2, "big"))


def read_binary(offset: int, length: int) -> CommandApdu:
    """READ BINARY of `length` (1..256) bytes at `offset` (15 bits) of the current EF."""
    if not 0 <= offset <= 0x7FFF:
        raise ValueError(f"READ BINARY offset {offset} is outside 0..32767")
    if not 1 <= length <= MAX_SHORT_LE:
        raise ValueError(f"READ BINARY Le {length} is outside 1..256")
    return CommandApdu(0x00, INS_READ_BINARY, offset >> 8, offset & 0xFF, le=length)


def pin_tries_left_query() -> CommandApdu:
    """VERIFY with no data: the card answers 63Cx, x the tries left, and uses no try."""
    return CommandApdu(0x00, INS_VERIFY, 0x00, 0x80)


def verify_pin(pin: bytes) -> CommandApdu:
    """VERIFY of the PIN (ASCII digits) against the current EF (0018)."""
    return CommandApdu(0x00, INS_VERIFY, 0x00, 0x80, pin)


def compute_digital_signature(digest_info: bytes) -> CommandApdu:
    """COMPUTE DIGITAL SIGNATURE with the current key EF (0017): `80 2A 00 80 Lc <DI> 00`."""
    return CommandApdu(0x80, INS_COMPUTE_DIGITAL_SIGNATURE, 0x00, 0x80, digest_info, MAX_SHORT_LE)


def sha256_digest_info(message: bytes) -> bytes:
    """Return the DER DigestInfo of SHA-256(message): what the card signs with PKCS#1 v1.5."""
    return SHA256_DIGEST_INFO_PREFIX + hashlib.sha256(message).digest()


def der_total_length(head: bytes) -> int:
    """Return the full length of the DER element that starts with `head` (at least 4 bytes).

    Certificates on the card are a DER SEQUENCE padded to the EF size; reading the first bytes
    and this length avoids reading the padding. Raise ValueError when `head` is no SEQUENCE.
    """
    if len(head) < 2 or head[0] != 0x30:
        raise ValueError("the EF does not start with a DER SEQUENCE (no certificate stored)")
    first = head[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 3 or len(head) < 2 + count:
        raise ValueError(f"unsupported DER length encoding {head[:4].hex()}")
    return 2 + count + int.from_bytes(head[2 : 2 + count], "big")
