"""The treasurer's two writes, shared by the JSON routes and the pages: close a period, record a
payment.

Each sends the ledger transaction, waits until it is final, then audits it with its hash and
commits. If the ledger refuses, the ApiError comes back before anything is audited, and the
caller shows it in its own way (a problem, or words on the page).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.chain.ledger import tx_hash_of
from api.chain.side import ChainSide
from api.services.audit import Actor, record_audit
from contracts.domain import SettlementSide


def close_period(
    *, db: Session, chain: ChainSide, actor: Actor, municipality: int, period: int, now: int
) -> str:
    """Close `period` of `municipality` on-chain (its statement becomes final); return the hash."""
    transaction_hash = tx_hash_of(chain.ledger.close_period(municipality, period))
    record_audit(
        db=db,
        at=now,
        actor=actor,
        action="settlement-period-closed",
        target=f"{municipality:05d}/{period}",
        transaction_hash=transaction_hash,
    )
    db.commit()
    return transaction_hash


def record_payment(
    *,
    db: Session,
    chain: ChainSide,
    actor: Actor,
    municipality: int,
    period: int,
    side: str,
    counterparty: int,
    amount: int,
    bank_reference: str,
    now: int,
) -> str:
    """Record the bank transfer settling one line (`side` "business" or "partner"); the hash.

    Only the bank reference's hash goes on-chain.
    """
    transaction_hash = tx_hash_of(
        chain.ledger.record_payment(
            municipality,
            period,
            side=SettlementSide.BUSINESS if side == "business" else SettlementSide.PARTNER,
            counterparty=counterparty,
            amount=amount,
            bank_reference=bank_reference,
        )
    )
    record_audit(
        db=db,
        at=now,
        actor=actor,
        action="settlement-payment-recorded",
        target=f"{municipality:05d}/{period}/{side}/{counterparty}",
        transaction_hash=transaction_hash,
        detail={"amount": amount},
    )
    db.commit()
    return transaction_hash
