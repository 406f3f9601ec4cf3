"""Operators: what the keepers (api.keepers) did last, and what falls due next.

Read from the keepers' lease rows in the private store, so the page shows the last run of
whichever process ran them: this API's keeper thread or a separate `mykey api keep`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import DbDep, Operator
from api.keepers.leases import keeper_statuses
from api.schemas.problems import Problem

router = APIRouter(tags=["operator"])

_EXAMPLE: dict[str, Any] = {
    "runs_in_this_process": True,
    "keepers": [
        {
            "name": "expiry",
            "holder": None,
            "lease_expires_at": 1795000000,
            "last_started_at": 1794999990,
            "last_finished_at": 1795000000,
            "swept": 3,
            "expired_points": 1500,
            "transactions": 3,
            "refused": [],
            "backlog": 0,
            "next_due_at": 1796000000,
            "last_error": None,
        }
    ],
}


class KeeperOut(BaseModel):
    """One keeper's lease and last run."""

    name: str = Field(
        description="`reserves` (sweepReserves), `expiry` (sweepExpired), or `indexer`: the chain "
        "follower's lease, which names the one API process following the ledger (no sweeps)."
    )
    holder: str | None = Field(description="Process that holds or last held the lease.")
    lease_expires_at: int
    last_started_at: int | None
    last_finished_at: int | None
    swept: int = Field(description="Reserves sent home, or accounts whose expiry was recorded.")
    expired_points: int = Field(description="Points the last run recorded as expired.")
    transactions: int
    refused: list[str] = Field(description="Items the ledger refused; the run went on.")
    backlog: int = Field(description="Due items left for the next run (the run's bound).")
    next_due_at: int | None = Field(description="Chain time the next known item falls due.")
    last_error: str | None


class KeepersOut(BaseModel):
    """Every keeper that has run against this store."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    runs_in_this_process: bool = Field(description="This API process runs the keeper thread.")
    keepers: list[KeeperOut]


@router.get(
    "/operator/keepers",
    summary="Keepers' last runs",
    response_model=KeepersOut,
    responses={401: {"model": Problem}, 403: {"model": Problem}},
)
def keepers(operator: Operator, request: Request, db: DbDep) -> KeepersOut:
    """Last run, swept counts, next due time and last error of each keeper (node operators)."""
    rows: list[KeeperOut] = []
    for status in keeper_statuses(db):
        report = status.last_report or {}
        rows.append(
            KeeperOut(
                name=status.name,
                holder=status.holder,
                lease_expires_at=status.lease_expires_at,
                last_started_at=status.last_started_at,
                last_finished_at=status.last_finished_at,
                swept=int(report.get("swept", 0)),
                expired_points=int(report.get("expired_points", 0)),
                transactions=int(report.get("transactions", 0)),
                refused=[str(item) for item in report.get("refused", [])],
                backlog=int(report.get("backlog", 0)),
                next_due_at=status.next_due_at,
                last_error=status.last_error,
            )
        )
    running = getattr(request.app.state, "keeper_thread", None) is not None
    return KeepersOut(runs_in_this_process=running, keepers=rows)
