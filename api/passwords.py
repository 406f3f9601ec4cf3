"""Password hashing with argon2id (RFC 9106, memory-hard) and the password rules.

The resident's My Page password is 6-16 half-width letters or digits (deck screen 16). Staff
passwords are longer (12-128 characters) because staff accounts can write. `verify` takes the
same time whether or not an account exists (`verify_dummy`), so a login response does not tell
which MyKey IDs are registered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from api.settings import PasswordHashing

RESIDENT_PASSWORD = re.compile(r"[A-Za-z0-9]{6,16}")
"""6-16 half-width alphanumerics (deck screen 16: 6～16ケタの半角英数字)."""

STAFF_PASSWORD_MIN, STAFF_PASSWORD_MAX = 12, 128


def is_valid_resident_password(password: str) -> bool:
    """Return True when `password` follows the My Page password rule."""
    return RESIDENT_PASSWORD.fullmatch(password) is not None


def is_valid_staff_password(password: str) -> bool:
    """Return True when `password` is 12-128 characters long."""
    return STAFF_PASSWORD_MIN <= len(password) <= STAFF_PASSWORD_MAX


@dataclass
class PasswordService:
    """argon2id hashing with the configured cost."""

    cost: PasswordHashing
    _hasher: PasswordHasher = field(init=False)
    _dummy_hash: str = field(init=False)

    def __post_init__(self) -> None:
        self._hasher = PasswordHasher(
            time_cost=self.cost.time_cost,
            memory_cost=self.cost.memory_cost_kib,
            parallelism=self.cost.parallelism,
            type=Type.ID,
        )
        self._dummy_hash = self._hasher.hash("dummy-password-for-timing")

    def hash(self, password: str) -> str:
        """Return the argon2id PHC string for `password` (salted)."""
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """Return True when `password` matches `password_hash`; False on mismatch or bad hash."""
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification, for a login name that does not exist."""
        self.verify(self._dummy_hash, password)
