"""Single-use, short-lived challenges for the card to sign.

The store is given its clock, so tests move time by hand. A challenge is 32 random bytes from
`secrets`; it is accepted once, within its lifetime, and a second use is reported as a replay
rather than as unknown, so the API can log an attack differently from a typo.

Invariants: a redeemed or expired challenge is never accepted again; the store forgets entries a
full lifetime after they expired, so memory stays bounded by the issue rate times two lifetimes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from card_bridge.platform_checks.refusals import (
    ChallengeExpired,
    ChallengeReplayed,
    ChallengeUnknown,
)

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware."""

CHALLENGE_BYTES = 32
DEFAULT_LIFETIME = timedelta(minutes=2)
"""Long enough to hold a card to a reader and type a 4-digit PIN, short enough to limit replay."""


@dataclass(frozen=True)
class Challenge:
    """A challenge as handed to the counter terminal or the browser."""

    value: bytes
    expires_at: datetime


class ChallengeStore:
    """Issues challenges and redeems each at most once (in memory, one process)."""

    def __init__(
        self,
        clock: Clock,
        *,
        lifetime: timedelta = DEFAULT_LIFETIME,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        if lifetime <= timedelta(0):
            raise ValueError("a challenge lifetime must be positive")
        self._clock = clock
        self._lifetime = lifetime
        self._random_bytes = random_bytes
        self._outstanding: dict[bytes, datetime] = {}
        self._spent: dict[bytes, datetime] = {}

    def issue(self) -> Challenge:
        """Return a fresh challenge valid for the store's lifetime from now."""
        now = self._clock()
        self._forget_old(now)
        value = self._random_bytes(CHALLENGE_BYTES)
        if value in self._outstanding or value in self._spent:
            raise RuntimeError("the random source repeated a challenge: it is broken")
        expires_at = now + self._lifetime
        self._outstanding[value] = expires_at
        return Challenge(value, expires_at)

    def redeem(self, value: bytes) -> None:
        """Accept `value` once; raise ChallengeReplayed, ChallengeExpired or ChallengeUnknown."""
        now = self._clock()
        if value in self._spent:
            raise ChallengeReplayed(
                "this challenge was already used: ask the platform for a new one"
            )
        expires_at = self._outstanding.pop(value, None)
        if expires_at is None:
            raise ChallengeUnknown("this challenge was not issued by the platform (or is too old)")
        self._spent[value] = expires_at
        if now >= expires_at:
            raise ChallengeExpired(
                "the challenge expired before the card's answer arrived: start the tap again"
            )

    def _forget_old(self, now: datetime) -> None:
        horizon = now - self._lifetime
        for table in (self._outstanding, self._spent):
            for value in [value for value, expires in table.items() if expires < horizon]:
                del table[value]
