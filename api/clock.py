"""Time as the API sees it: whole seconds since the Unix epoch, read through a `Clock` port.

Every expiry (sessions, lock-outs, registration sessions, outbox leases) is computed from a
`Clock` passed in, never from `time.time()` inside a service, so unit tests move time with a
fake clock instead of sleeping. Stored timestamps are integers (UTC seconds) so SQLite and
PostgreSQL compare them the same way.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of the current time."""

    def now(self) -> int:
        """Return the current time as whole seconds since the Unix epoch (UTC)."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> int:
        """Return `time.time()` rounded down to whole seconds."""
        return int(time.time())
