"""The identifiers the API handles, as distinct types, and the checks that make them.

A MyKey ID is exactly 8 half-width upper-case letters or digits (deck screen 16). A municipality
code is the 5-digit 全国地方公共団体コード; the 6-digit form (with its check digit) is accepted
and reduced to 5 digits after its check digit is verified. Parsing functions return the NewType
or raise `ValueError` with a message a person can act on; callers at the HTTP edge turn that into
a field-level problem.
"""

from __future__ import annotations

import re
from typing import NewType

MykeyId = NewType("MykeyId", str)
"""8 half-width upper-case letters and digits, e.g. `A01B2C3D`."""

MunicipalityCode = NewType("MunicipalityCode", str)
"""5-digit local government code, e.g. `14130` (Kawasaki), `13116` (Toshima)."""

PrefectureCode = NewType("PrefectureCode", str)
"""2-digit prefecture code (JIS X 0401), `01` Hokkaido to `47` Okinawa."""

MYKEY_ID_PATTERN = re.compile(r"[A-Z0-9]{8}")
MYKEY_ID_LENGTH = 8


def parse_mykey_id(text: str) -> MykeyId:
    """Return `text` as a MykeyId; raise ValueError unless it is 8 of A-Z and 0-9."""
    if MYKEY_ID_PATTERN.fullmatch(text) is None:
        raise ValueError(f"a MyKey ID is 8 half-width upper-case letters or digits, not {text!r}")
    return MykeyId(text)


def municipality_check_digit(code5: str) -> int:
    """Return the check digit of a 5-digit municipality code (総務省 method: weights 6,5,4,3,2).

    The digit is (11 - (sum of digit*weight) mod 11) mod 10.
    """
    total = sum(int(digit) * weight for digit, weight in zip(code5, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


def parse_municipality_code(text: str) -> MunicipalityCode:
    """Return the 5-digit code for `text` (5 digits, or 6 with a valid check digit).

    Raises ValueError for anything else, naming what was wrong.
    """
    if re.fullmatch(r"[0-9]{5}", text):
        return MunicipalityCode(text)
    if re.fullmatch(r"[0-9]{6}", text):
        expected = municipality_check_digit(text[:5])
        if int(text[5]) != expected:
            raise ValueError(
                f"municipality code {text!r} has check digit {text[5]}, expected {expected}"
            )
        return MunicipalityCode(text[:5])
    raise ValueError(f"a municipality code is 5 digits (or 6 with its check digit), not {text!r}")
