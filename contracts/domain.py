"""The ledger's vocabulary in Python: MyKey IDs, municipality codes, kinds, uses, JST dates.

Everything here mirrors a Solidity counterpart (contracts/src/Kinds.sol, MunicipalityCode.sol,
Calendar.sol) number for number, so the API can refuse bad input before it costs a transaction
and the tests' model computes exactly what the contracts compute. The enums' numbers are part of
the ABI: never renumber, only append.
"""

from __future__ import annotations

import datetime
import re
from enum import IntEnum, IntFlag
from typing import NewType

MykeyId = NewType("MykeyId", str)
"""8 half-width upper-case letters or digits, e.g. "A01B2C3D"."""

MunicipalityCode = NewType("MunicipalityCode", int)
"""The 5-digit 全国地方公共団体コード as a number (01100 is 1100); format with `format_code`."""

Points = NewType("Points", int)
"""Municipal points; 1 point = 1 yen."""

SECONDS_PER_DAY = 86_400
JST_OFFSET_SECONDS = 9 * 3600
"""Japan Standard Time is UTC+9 all year, so expiry dates and fiscal years use a fixed offset."""

REGULAR_ACCOUNT = 0
"""Account 0 is a resident's regular account at a municipality; 1.. are its event accounts."""

_MYKEY_ID = re.compile(r"[A-Z0-9]{8}")
_CODE = re.compile(r"[0-9]{5,6}")


class InvalidMykeyIdError(ValueError):
    """The text is not 8 half-width upper-case letters or digits."""


class InvalidMunicipalityCodeError(ValueError):
    """The text is not a 5-digit municipality code or a 6-digit one with a correct check digit."""


class MemberKind(IntEnum):
    """What a consortium account belongs to (Kinds.MEMBER_*)."""

    NONE = 0
    PLATFORM = 1
    MUNICIPALITY = 2
    PARTNER = 3
    BUSINESS = 4


class TerminalKind(IntEnum):
    """Deck slide 7: (a) service-ID lookup, (b) point use, (c) voucher issue, (d) granting."""

    NONE = 0
    SERVICE_ID_LOOKUP = 1
    POINT_USE = 2
    VOUCHER_ISSUE = 3
    GRANTING = 4


class Role(IntFlag):
    """Roles of an account inside its member (Kinds.ROLE_*)."""

    ADMIN = 1
    STAFF = 2
    TREASURER = 4


class Use(IntEnum):
    """The uses a municipality may allow for its points (deck slide 4), as bit indexes."""

    FACILITY = 0
    LOCAL_STORE = 1
    TRANSPORT = 2
    TOURISM = 3
    SOCIAL_CONTRIBUTION = 4
    CROWDFUNDING = 5
    ONLINE_PURCHASE = 6


class Action(IntEnum):
    """What the resident's card signed, as the attestation's `action` field."""

    REDEEM = 1
    ISSUE_VOUCHER = 2
    PLACE_RESERVE = 3


class SettlementSide(IntEnum):
    """Which way the yen flow for a settlement line."""

    BUSINESS = 0  # the municipality pays the business
    PARTNER = 1  # the partner pays the municipality


def uses_mask(*uses: Use) -> int:
    """Return the bit mask the contracts store for a set of uses."""
    mask = 0
    for use in uses:
        mask |= 1 << int(use)
    return mask


def parse_mykey_id(text: str) -> MykeyId:
    """Return `text` as a MyKey ID; raises InvalidMykeyIdError naming the rule it breaks."""
    if not _MYKEY_ID.fullmatch(text):
        raise InvalidMykeyIdError(
            f"MyKey ID {text!r} must be exactly 8 half-width upper-case letters (A-Z) or digits"
        )
    return MykeyId(text)


def mykey_id_bytes(mykey_id: str) -> bytes:
    """Return the bytes8 the contracts key points by (ASCII of the ID)."""
    return parse_mykey_id(mykey_id).encode("ascii")


def mykey_id_from_bytes(raw: bytes) -> MykeyId:
    """Return the MyKey ID of a bytes8 read from the chain (not re-validated)."""
    return MykeyId(raw.decode("ascii", errors="replace"))


def check_digit(five_digits: str) -> int:
    """Return the check digit of a 5-digit municipality code (JIS X 0401/0402 weights 6..2)."""
    weighted = sum(
        int(digit) * weight for digit, weight in zip(five_digits, range(6, 1, -1), strict=True)
    )
    return (11 - weighted % 11) % 10


def parse_municipality_code(text: str) -> MunicipalityCode:
    """Return the code of "14130" or "141305"; raises InvalidMunicipalityCodeError."""
    if not _CODE.fullmatch(text):
        raise InvalidMunicipalityCodeError(f"municipality code {text!r} must be 5 or 6 digits")
    prefecture = int(text[:2])
    if not 1 <= prefecture <= 47:
        raise InvalidMunicipalityCodeError(
            f"municipality code {text!r} starts with prefecture {text[:2]}, not one of 01-47"
        )
    if len(text) == 6 and int(text[5]) != check_digit(text[:5]):
        raise InvalidMunicipalityCodeError(
            f"municipality code {text!r} has check digit {text[5]}; "
            f"{text[:5]} needs {check_digit(text[:5])}"
        )
    return MunicipalityCode(int(text[:5]))


def format_code(code: int) -> str:
    """Return the canonical 5-digit text of a municipality code (1100 -> "01100")."""
    return f"{code:05d}"


def end_of_jst_day(timestamp: int) -> int:
    """Return the first JST midnight strictly after `timestamp` (Calendar.endOfJstDay)."""
    day = (timestamp + JST_OFFSET_SECONDS) // SECONDS_PER_DAY
    return (day + 1) * SECONDS_PER_DAY - JST_OFFSET_SECONDS


def fiscal_year(timestamp: int) -> int:
    """Return the Japanese fiscal year (April-March, JST) containing `timestamp`."""
    moment = datetime.datetime.fromtimestamp(timestamp + JST_OFFSET_SECONDS, tz=datetime.UTC)
    return moment.year if moment.month >= 4 else moment.year - 1
