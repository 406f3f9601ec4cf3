"""One-off coupon codes as people type them: Crockford base32, groups of four, a check symbol.

A code is 15 random symbols of Crockford's base32 (75 bits) and one check symbol, printed as
`XXXX-XXXX-XXXX-XXXC`. The check symbol is Crockford's: the 15 symbols' value modulo 37, written
with the 32 symbols plus `*~$=U`. Because 37 is prime and 32 is not 1 modulo 37, every single
wrong symbol and every swap of two neighbours changes it, so a typo is caught before any lookup.
Reading is forgiving as Crockford intends: case, hyphens and spaces are ignored, O reads as 0,
I and L as 1.

Sans-io: no store, no clock; `random_code` takes its randomness from `secrets`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

SYMBOLS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_SYMBOLS = SYMBOLS + "*~$=U"
DATA_LENGTH = 15
CODE_LENGTH = DATA_LENGTH + 1
GROUP = 4
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})


class CouponCodeMalformed(ValueError):
    """Not 16 symbols of the code alphabet (after hyphens and spaces are dropped)."""


class CouponCodeCheckFailed(ValueError):
    """The check symbol does not match: a symbol was mistyped."""


@dataclass(frozen=True)
class CouponCode:
    """A code read back: its 15 data symbols (what is hashed) and the printed form."""

    data: str

    @property
    def printed(self) -> str:
        """Return the code as printed: four groups of four, check symbol last."""
        full = self.data + check_symbol(self.data)
        return "-".join(full[i : i + GROUP] for i in range(0, CODE_LENGTH, GROUP))


def check_symbol(data: str) -> str:
    """Return Crockford's check symbol of `data` (its base-32 value modulo 37)."""
    value = 0
    for symbol in data:
        value = (value * 32 + SYMBOLS.index(symbol)) % 37
    return CHECK_SYMBOLS[value]


def random_code() -> CouponCode:
    """Return a fresh code of 15 random symbols."""
    return CouponCode("".join(secrets.choice(SYMBOLS) for _ in range(DATA_LENGTH)))


def read_code(text: str) -> CouponCode:
    """Return the code a person typed; raise CouponCodeMalformed or CouponCodeCheckFailed."""
    compact = "".join(text.split()).replace("-", "").upper()
    if len(compact) != CODE_LENGTH:
        raise CouponCodeMalformed(f"a coupon code has {CODE_LENGTH} symbols, not {len(compact)}")
    data = compact[:DATA_LENGTH].translate(_READ_AS)
    check = compact[DATA_LENGTH].translate(_READ_AS)
    if any(symbol not in SYMBOLS for symbol in data) or check not in CHECK_SYMBOLS:
        raise CouponCodeMalformed("a coupon code uses only 0-9 and A-Z without I, L, O, U")
    if check_symbol(data) != check:
        raise CouponCodeCheckFailed("the check symbol does not match: a symbol was mistyped")
    return CouponCode(data)
