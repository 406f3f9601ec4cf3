"""The allow-list: which commands may ever reach a My Number Card. Pure: no I/O.

`admit(command, selection)` either raises `ApduNotAllowed` or returns the selection the card will
be in if it accepts the command. `card_bridge.channel.GuardedChannel.transmit`, the one function
that hands bytes to a reader, calls it before every command.

Rules (JPKI.md, tightened where a looser rule would leave a way to another file):
- the only application ever selected is the JPKI AP; the two applications that hold the
  Individual Number are refused by name;
- the only EFs are 0006, 000A, 000B, 0017, 0018, and only once the JPKI AP is selected;
- the only instructions are SELECT (A4), READ BINARY (B0), VERIFY (20) and COMPUTE DIGITAL
  SIGNATURE (2A), each with the one CLA/P1/P2 the JPKI application uses;
- READ BINARY never uses a short EF identifier in P1 (that would read a file without selecting
  it) and only reads the token and the two certificates;
- VERIFY only targets the auth PIN (EF 0018); signing only uses the auth key (EF 0017) and only
  over a SHA-256 DigestInfo, so the key can never be used as a raw RSA oracle.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    SHA256_DIGEST_INFO_PREFIX,
    CommandApdu,
)
from card_bridge.errors import ApduNotAllowed

ALLOWED_FILES = frozenset(
    {EF_TOKEN, EF_AUTH_CERTIFICATE, EF_AUTH_CA_CERTIFICATE, EF_AUTH_PRIVATE_KEY, EF_AUTH_PIN}
)
READABLE_FILES = frozenset({EF_TOKEN, EF_AUTH_CERTIFICATE, EF_AUTH_CA_CERTIFICATE})
ALLOWED_INSTRUCTIONS = frozenset(
    {INS_SELECT, INS_READ_BINARY, INS_VERIFY, INS_COMPUTE_DIGITAL_SIGNATURE}
)
MAX_PIN_LENGTH = 16
DIGEST_INFO_LENGTH = len(SHA256_DIGEST_INFO_PREFIX) + 32


@dataclass(frozen=True)
class Selection:
    """What the card has selected, as far as the bridge knows; None when unknown or nothing."""

    application: bytes | None = None
    file_id: int | None = None


NOTHING_SELECTED = Selection()


def admit(command: CommandApdu, selection: Selection) -> Selection:
    """Return the selection after `command` succeeds; raise ApduNotAllowed if it may not be sent."""
    if command.ins not in ALLOWED_INSTRUCTIONS:
        raise ApduNotAllowed(f"instruction {command.ins:02X} is not on the JPKI allow-list")
    if command.ins == INS_SELECT:
        return _admit_select(command, selection)
    if selection.application != JPKI_AP_AID:
        raise ApduNotAllowed(f"{command.redacted()}: select the JPKI application first")
    if command.ins == INS_READ_BINARY:
        _require(command, cla=0x00)
        if command.p1 & 0x80:
            raise ApduNotAllowed(
                f"{command.redacted()}: READ BINARY with a short EF identifier is not allowed"
            )
        if command.data or command.le is None:
            raise ApduNotAllowed(f"{command.redacted()}: READ BINARY takes only Le")
        if selection.file_id not in READABLE_FILES:
            raise ApduNotAllowed(
                f"{command.redacted()}: only the token and certificate EFs may be read"
            )
        return selection
    if command.ins == INS_VERIFY:
        _require(command, cla=0x00, p1=0x00, p2=0x80)
        if selection.file_id != EF_AUTH_PIN or len(command.data) > MAX_PIN_LENGTH:
            raise ApduNotAllowed(f"{command.redacted()}: VERIFY only targets the auth PIN EF 0018")
        return selection
    _require(command, cla=0x80, p1=0x00, p2=0x80)
    if selection.file_id != EF_AUTH_PRIVATE_KEY:
        raise ApduNotAllowed(f"{command.redacted()}: signing only uses the auth key EF 0017")
    if len(command.data) != DIGEST_INFO_LENGTH or not command.data.startswith(
        SHA256_DIGEST_INFO_PREFIX
    ):
        raise ApduNotAllowed(f"{command.redacted()}: the card only signs a SHA-256 DigestInfo")
    return selection


def _admit_select(command: CommandApdu, selection: Selection) -> Selection:
    _require(command, cla=0x00, p2=0x0C)
    if command.le is not None:
        raise ApduNotAllowed(f"{command.redacted()}: SELECT asks for no response data")
    if command.p1 == 0x04:
        if command.data in FORBIDDEN_APPLICATIONS:
            raise ApduNotAllowed(
                f"SELECT of {FORBIDDEN_APPLICATIONS[command.data]} refused: the Individual "
                "Number may never be read"
            )
        if command.data != JPKI_AP_AID:
            raise ApduNotAllowed(
                f"SELECT of application {command.data.hex().upper()} refused: only the JPKI "
                "application may be selected"
            )
        return Selection(application=JPKI_AP_AID)
    if command.p1 == 0x02:
        if selection.application != JPKI_AP_AID:
            raise ApduNotAllowed(f"{command.redacted()}: select the JPKI application first")
        file_id = int.from_bytes(command.data, "big") if len(command.data) == 2 else None
        if file_id not in ALLOWED_FILES:
            raise ApduNotAllowed(
                f"SELECT of EF {command.data.hex().upper()} refused: only EFs 0006, 000A, "
                "000B, 0017 and 0018 may be selected"
            )
        return Selection(application=JPKI_AP_AID, file_id=file_id)
    raise ApduNotAllowed(f"{command.redacted()}: only SELECT by AID (04) or by EF (02) is allowed")


def _require(
    command: CommandApdu, *, cla: int, p1: int | None = None, p2: int | None = None
) -> None:
    if command.cla != cla or (p1 is not None and command.p1 != p1):
        raise ApduNotAllowed(f"{command.redacted()}: class or parameters not on the allow-list")
    if p2 is not None and command.p2 != p2:
        raise ApduNotAllowed(f"{command.redacted()}: class or parameters not on the allow-list")
