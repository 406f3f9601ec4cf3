"""What My Page shows of a resident's vouchers: where each was issued, its value, end date, status.

Everything comes from the indexer's table of decoded ledger events (`chain_events`): a voucher
is its `VoucherIssued` event, it is redeemed once a `VoucherRedeemed` event names its id, and it
has expired when the time is at or past its `expiresAt` (as `PointLedger.redeemVoucher` refuses
it then). Where it was issued comes from the issuing terminal's `TerminalRegistered` event and,
for a business, its `BusinessAdmitted` name.

Invariant: only events whose `mykey_id` is the logged-in resident's are read as vouchers; the
redemptions looked at are those of these voucher ids only, so no other resident's voucher can
reach the page. The index can lag the ledger by a few blocks, so the page says up to which block
the statuses are known.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.messages import Message
from api.pages.event_words import municipality_name
from api.store.models import ChainEvent
from contracts.domain import MemberKind

VOUCHER_LINES = 50
"""The newest vouchers shown; older ones stay on the ledger and in the explorer."""


class VoucherStatus(StrEnum):
    """Whether a voucher can still be used."""

    USABLE = "usable"
    REDEEMED = "redeemed"
    EXPIRED = "expired"


STATUS_WORDS: dict[VoucherStatus, Message] = {
    VoucherStatus.USABLE: Message("利用できます", "Usable"),
    VoucherStatus.REDEEMED: Message("利用済み", "Redeemed"),
    VoucherStatus.EXPIRED: Message("有効期限切れ", "Expired"),
}


@dataclass(frozen=True)
class VoucherLine:
    """One voucher of the resident's, as My Page lists it."""

    voucher_id: int
    issued_at: int
    municipality: str
    issued_by: str
    amount: int
    expires_at: int
    status: VoucherStatus
    redeemed_at: int | None
    transaction_hash: str


def _args(row: ChainEvent) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(row.args_json)
    return parsed


def _redemptions(db: Session, issued: list[ChainEvent], ids: set[int]) -> dict[int, int]:
    """Return {voucher id: block time of its VoucherRedeemed} for `ids` only."""
    if not issued:
        return {}
    rows = db.scalars(
        select(ChainEvent).where(
            ChainEvent.name == "VoucherRedeemed",
            ChainEvent.municipality.in_({row.municipality for row in issued}),
            ChainEvent.block_number >= min(row.block_number for row in issued),
        )
    )
    found: dict[int, int] = {}
    for row in rows:
        voucher_id = int(_args(row)["voucherId"])
        if voucher_id in ids:
            found[voucher_id] = row.block_timestamp
    return found


def _issuers(db: Session, terminals: set[str], language: str) -> dict[str, str]:
    """Return {terminal address (lower case): who it belongs to, in words}."""
    owners: dict[str, tuple[int, int]] = {}
    for row in db.scalars(
        select(ChainEvent)
        .where(ChainEvent.name == "TerminalRegistered")
        .order_by(ChainEvent.block_number, ChainEvent.log_index)
    ):
        args = _args(row)
        address = str(args["terminal"]).lower()
        if address in terminals:
            owners[address] = (int(args["ownerKind"]), int(args["ownerId"]))
    wanted = {owner_id for kind, owner_id in owners.values() if kind == MemberKind.BUSINESS}
    names: dict[int, str] = {}
    if wanted:
        for row in db.scalars(
            select(ChainEvent).where(
                ChainEvent.name == "BusinessAdmitted", ChainEvent.counterparty.in_(wanted)
            )
        ):
            names[int(row.counterparty or 0)] = str(_args(row)["name"])
    issuers = {}
    for address, (kind, owner_id) in owners.items():
        if kind == MemberKind.BUSINESS:
            fallback = Message(f"事業者 {owner_id}", f"Business {owner_id}")
            issuers[address] = names.get(owner_id, fallback.in_language(language))
        else:
            issuers[address] = Message(
                f"{municipality_name(owner_id, 'ja')}の窓口",
                f"{municipality_name(owner_id, 'en')} counter",
            ).in_language(language)
    return issuers


def read_resident_vouchers(
    *, db: Session, mykey_id: str, now: int, language: str
) -> list[VoucherLine]:
    """Return the resident's newest vouchers (at most VOUCHER_LINES), newest first."""
    issued = list(
        db.scalars(
            select(ChainEvent)
            .where(ChainEvent.name == "VoucherIssued", ChainEvent.mykey_id == mykey_id)
            .order_by(ChainEvent.block_number.desc(), ChainEvent.log_index.desc())
            .limit(VOUCHER_LINES)
        )
    )
    details = [(row, _args(row)) for row in issued]
    ids = {int(args["voucherId"]) for _, args in details}
    redeemed = _redemptions(db, issued, ids)
    issuers = _issuers(db, {str(args["terminal"]).lower() for _, args in details}, language)
    unknown = Message("不明な端末", "An unknown terminal").in_language(language)
    lines = []
    for row, args in details:
        voucher_id = int(args["voucherId"])
        expires_at = int(args["expiresAt"])
        if voucher_id in redeemed:
            status = VoucherStatus.REDEEMED
        elif now >= expires_at:
            status = VoucherStatus.EXPIRED
        else:
            status = VoucherStatus.USABLE
        lines.append(
            VoucherLine(
                voucher_id=voucher_id,
                issued_at=row.block_timestamp,
                municipality=municipality_name(int(args["municipality"]), language),
                issued_by=issuers.get(str(args["terminal"]).lower(), unknown),
                amount=int(args["amount"]),
                expires_at=expires_at,
                status=status,
                redeemed_at=redeemed.get(voucher_id),
                transaction_hash=row.transaction_hash,
            )
        )
    return lines
