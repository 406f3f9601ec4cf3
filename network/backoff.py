"""Reconnect delays: exponential backoff with a cap and jitter, as a pure function.

Dialing a peer that is down must neither hammer it (a restart storm when a whole consortium comes
back) nor give up. Delay n is `min(maximum, initial * factor**n)`, then shortened by up to
`jitter` of itself at random so nodes that lost the same peer do not redial in lockstep. The
random source is passed in, so tests get exact figures without sleeping.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Parameters of the reconnect schedule, in seconds."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not (0 < self.initial <= self.maximum and self.factor >= 1 and 0 <= self.jitter < 1):
            raise ValueError(
                f"backoff needs 0 < initial <= maximum, factor >= 1 and 0 <= jitter < 1, got {self}"
            )

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Return the wait before retry number `attempt` (0 for the first retry)."""
        exponent = min(attempt, 64)  # beyond this the cap applies anyway; avoids float overflow
        base = min(self.maximum, self.initial * self.factor**exponent)
        return base * (1.0 - self.jitter * rng.random())
