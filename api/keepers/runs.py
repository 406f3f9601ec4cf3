"""What one keeper run did: the record each keeper returns, logs and stores on its lease row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class KeeperRun:
    """One run of one keeper.

    `swept` counts what the ledger recorded (reserves gone home, or accounts whose expired lots
    were recorded); `expired_points` the points those sweeps recorded as expired; `refused`
    names each item the ledger refused (the run went on with the others); `backlog` how many
    due items were left for the next run (the run's bound); `error` why the run stopped early
    (node unreachable), None when it went through.
    """

    keeper: str
    block_time: int | None = None
    swept: int = 0
    expired_points: int = 0
    transactions: int = 0
    refused: list[str] = field(default_factory=list)
    backlog: int = 0
    error: str | None = None
    next_due_at: int | None = None

    def as_report(self) -> dict[str, Any]:
        """The run as JSON-ready data (logs, the lease row, the operator route)."""
        return {
            "keeper": self.keeper,
            "block_time": self.block_time,
            "swept": self.swept,
            "expired_points": self.expired_points,
            "transactions": self.transactions,
            "refused": list(self.refused),
            "backlog": self.backlog,
            "error": self.error,
            "next_due_at": self.next_due_at,
        }
