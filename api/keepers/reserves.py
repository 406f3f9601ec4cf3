"""The reserve keeper: has each municipality record its reserves gone home (`sweepReserves`).

A reserve not placed by its deadline already counts at home in every balance (lazy evaluation);
the keeper makes the ledger record it, so its ReservePlaced(automatic) event, the "reserve went
home" notice, the receivable and `totalsOf(m).converted` follow without anyone acting.

Invariants:
- Idempotent: the contract's own answer (`sweepReserves(m, 0)` as a call) decides whether
  anything is due; a second run right after the first sends nothing.
- Bounded: at most `max_transactions` transactions per municipality per run, each passing at
  most RESERVE_SWEEP_STEPS queue entries; what is left is reported as `backlog` (municipalities
  still due) for the next run.
- A refusal for one municipality does not stop the others; an unreachable node stops the run.
"""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from api.errors import ApiError, LedgerUnavailable, SubmissionInDoubt
from api.indexer.follower import events_named
from api.keepers.ports import RESERVE_SWEEP_STEPS, KeeperLedger
from api.keepers.runs import KeeperRun

KEEPER_NAME = "reserves"
DEFAULT_MAX_TRANSACTIONS = 16
"""Per municipality and run: 16 x 64 = 1,024 queue entries, a few seconds of blocks."""


def run_reserve_keeper(
    ledger: KeeperLedger, *, max_transactions: int = DEFAULT_MAX_TRANSACTIONS
) -> KeeperRun:
    """Sweep every municipality's due reserves, bounded; return what the run did."""
    run = KeeperRun(KEEPER_NAME)
    try:
        run.block_time = ledger.block_time()
        municipalities = ledger.municipalities()
    except ApiError as error:
        run.error = error.message.en
        return run
    for municipality in municipalities:
        try:
            sent = 0
            while ledger.reserves_due(municipality):
                if sent == max_transactions:
                    run.backlog += 1
                    break
                run.swept += ledger.sweep_reserves(municipality, RESERVE_SWEEP_STEPS)
                sent += 1
                run.transactions += 1
        except (LedgerUnavailable, SubmissionInDoubt) as error:
            run.error = f"municipality {municipality}: {error.message.en}"
            return run
        except ApiError as refusal:
            run.refused.append(f"municipality {municipality}: {refusal.message.en}")
    return run


def next_reserve_deadline(db: Session, *, after: int) -> int | None:
    """The earliest deadline after `after` of an indexed reserve not yet placed or gone home."""
    settled = {
        int(json.loads(event.args_json)["reserveId"]) for event in events_named(db, "ReservePlaced")
    }
    deadlines = [
        int(args["deadline"])
        for args in (json.loads(event.args_json) for event in events_named(db, "PointsConverted"))
        if int(args["reserveId"]) not in settled and int(args["deadline"]) > after
    ]
    return min(deadlines, default=None)
