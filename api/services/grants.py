"""Administrative point grants by municipal staff: one resident, or a batch (a day's CSV).

Each grant is claimed in the store by its idempotency key *before* the ledger sees it, so the
same grant submitted twice (a double click, a re-uploaded CSV) reaches the ledger once; the
second answer is the first one's transaction. The ledger gets `reference` = SHA-256 of the key,
so a grant left `submitting` by a crash can be looked up on-chain instead of guessed at.

Port contract (`api.ports.PointsLedger`): `GrantRefused` and `LedgerUnavailable` mean nothing
was submitted, so the claim is released and the same key may be tried again;
`SubmissionInDoubt` (sent, outcome unknown) and any unexpected failure leave the grant
`submitting` (in doubt) until reconciled. Staff grant only for the municipality
their account belongs to. Every grant adds an audit record with its transaction, and the
"points granted" notice when the resident chose it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import (
    Conflict,
    FieldError,
    Forbidden,
    GrantRefused,
    InvalidFields,
    LedgerUnavailable,
    SubmissionInDoubt,
)
from api.identifiers import MYKEY_ID_PATTERN, MunicipalityCode, MykeyId
from api.messages import Message
from api.municipalities import MUNICIPALITIES
from api.notices.outbox import enqueue_notice
from api.notices.render import NoticeKind
from api.ports import Points, PointsLedger
from api.services.audit import Actor, record_audit
from api.services.staff import StaffRole, require_role, staff_actor
from api.store.models import Account, Grant, StaffAccount

ACTIVITIES: dict[str, Message] = {
    "volunteering": Message("ボランティア活動", "Volunteering"),
    "event-participation": Message("イベント参加", "Event participation"),
    "health-walk-rally": Message("健康ウォークラリー", "Health walk rally"),
    "other": Message("その他の活動", "Other activity"),
}
"""Activities points are granted for (DOMAIN.md: volunteering, events, health walk rally …)."""

MAX_POINTS_PER_GRANT = 100_000
MAX_BATCH_LINES = 5_000
CSV_HEADER = ("mykey_id", "points", "activity")


class GrantOutcome(StrEnum):
    """What became of one grant."""

    GRANTED = "granted"
    ALREADY_GRANTED = "already-granted"
    REFUSED = "refused"
    IN_DOUBT = "in-doubt"


class GrantState:
    """States of a stored grant."""

    SUBMITTING = "submitting"
    GRANTED = "granted"


@dataclass(frozen=True)
class GrantLine:
    """One grant as typed or read from a CSV line (not yet validated)."""

    mykey_id: str
    points: str
    activity: str


@dataclass(frozen=True)
class GrantResult:
    """The outcome of one grant (one CSV line)."""

    line: int
    mykey_id: str
    points: int | None
    activity: str
    outcome: GrantOutcome
    transaction_hash: str | None = None
    errors: list[FieldError] = field(default_factory=list)
    reason: Message | None = None


@dataclass(frozen=True)
class GrantingContext:
    """Who grants, for which municipality, through which ledger, when."""

    db: Session
    ledger: PointsLedger
    actor: Actor
    """Who the audit record and the stored grant name: a staff member, or a granting terminal."""
    municipality: MunicipalityCode
    now: int
    mail_domain: str

    @classmethod
    def for_staff(
        cls, *, db: Session, ledger: PointsLedger, staff: StaffAccount, now: int, mail_domain: str
    ) -> GrantingContext:
        """Return the context of `staff` granting for their own municipality (Forbidden if none)."""
        return cls(
            db=db,
            ledger=ledger,
            actor=staff_actor(staff),
            municipality=granting_municipality(staff),
            now=now,
            mail_domain=mail_domain,
        )


def granting_municipality(staff: StaffAccount) -> MunicipalityCode:
    """Return the municipality `staff` grants for; raise Forbidden for other roles."""
    require_role(staff, [StaffRole.MUNICIPAL_STAFF])
    codes = {item.code for item in MUNICIPALITIES}
    if staff.organisation not in codes:
        raise Forbidden(
            Message(
                "この職員アカウントには参加自治体が設定されていません。",
                f"Staff account {staff.login_name} belongs to no participating municipality.",
            )
        )
    return MunicipalityCode(staff.organisation)


def validate_line(line: GrantLine) -> tuple[int | None, list[FieldError]]:
    """Return (points, errors) for one grant line."""
    errors: list[FieldError] = []
    if MYKEY_ID_PATTERN.fullmatch(line.mykey_id) is None:
        errors.append(FieldError.of("mykey_id", "mykey-id-format"))
    points = int(line.points) if re.fullmatch(r"[0-9]{1,9}", line.points) else None
    if points is None or not 1 <= points <= MAX_POINTS_PER_GRANT:
        errors.append(FieldError.of("points", "points-range"))
        points = None
    if line.activity not in ACTIVITIES:
        errors.append(FieldError.of("activity", "activity-unknown"))
    return points, errors


def grant_one(
    *,
    context: GrantingContext,
    line: GrantLine,
    idempotency_key: str,
    line_number: int = 1,
    batch_key: str | None = None,
) -> GrantResult:
    """Grant one line; never raises for the line's own faults (they are in the result)."""
    points, errors = validate_line(line)
    if errors or points is None:
        return GrantResult(
            line_number, line.mykey_id, points, line.activity, GrantOutcome.REFUSED, errors=errors
        )
    db = context.db
    existing = _find(db, idempotency_key)
    if existing is not None:
        return _repeat(existing, line, points, line_number)
    reference = hashlib.sha256(idempotency_key.encode("utf-8")).digest()
    claim = Grant(
        idempotency_key=idempotency_key,
        reference=reference.hex(),
        municipality=context.municipality,
        mykey_id=line.mykey_id,
        points=points,
        activity=line.activity,
        state=GrantState.SUBMITTING,
        transaction_hash=None,
        granted_by=context.actor.name,
        batch_key=batch_key,
        created_at=context.now,
    )
    db.add(claim)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raced = _find(db, idempotency_key)
        assert raced is not None  # the unique key clashed, so the row exists
        return _repeat(raced, line, points, line_number)
    try:
        transaction_hash = context.ledger.grant_points(
            mykey_id=MykeyId(line.mykey_id),
            municipality=context.municipality,
            points=Points(points),
            activity=line.activity,
            reference=reference,
        )
    except (GrantRefused, LedgerUnavailable) as refusal:
        db.delete(claim)
        db.commit()
        if isinstance(refusal, LedgerUnavailable):
            raise
        return GrantResult(
            line_number,
            line.mykey_id,
            points,
            line.activity,
            GrantOutcome.REFUSED,
            reason=refusal.message,
        )
    except SubmissionInDoubt as doubt:
        # the claim stays `submitting`: the same key answers "in doubt" until reconciled
        return GrantResult(
            line_number,
            line.mykey_id,
            points,
            line.activity,
            GrantOutcome.IN_DOUBT,
            reason=doubt.message,
        )
    claim.state = GrantState.GRANTED
    claim.transaction_hash = transaction_hash
    record_audit(
        db=db,
        at=context.now,
        actor=context.actor,
        action="points.granted",
        target=line.mykey_id,
        transaction_hash=transaction_hash,
        detail={"municipality": context.municipality, "points": points, "activity": line.activity},
    )
    account = db.scalars(select(Account).where(Account.mykey_id == line.mykey_id)).one_or_none()
    if account is not None:
        municipality_name = next(
            item.name_ja for item in MUNICIPALITIES if item.code == context.municipality
        )
        enqueue_notice(
            db=db,
            account=account,
            kind=NoticeKind.POINTS_GRANTED,
            idempotency_key=f"grant:{claim.id}",
            facts={
                "mykey_id": line.mykey_id,
                "municipality": municipality_name,
                "points": f"{points:,}",
            },
            now=context.now,
            mail_domain=context.mail_domain,
        )
    db.commit()
    return GrantResult(
        line_number,
        line.mykey_id,
        points,
        line.activity,
        GrantOutcome.GRANTED,
        transaction_hash=transaction_hash,
    )


def grant_single(*, context: GrantingContext, line: GrantLine, idempotency_key: str) -> GrantResult:
    """Grant to one resident; raise InvalidFields / GrantRefused / Conflict instead of a result."""
    result = grant_one(context=context, line=line, idempotency_key=idempotency_key)
    if result.errors:
        raise InvalidFields(result.errors)
    if result.outcome is GrantOutcome.REFUSED and result.reason is not None:
        raise GrantRefused(result.reason)
    if result.outcome is GrantOutcome.IN_DOUBT and result.reason is not None:
        raise Conflict(result.reason)
    return result


def grant_batch(*, context: GrantingContext, csv_text: str, batch_key: str) -> list[GrantResult]:
    """Grant every line of a CSV (`mykey_id,points,activity` header); report each line.

    Raises InvalidFields for a malformed CSV, a missing header or too many lines (nothing is
    granted then).
    """
    # newline="": the csv module itself must see \r, \n and \r\n line ends (csv docs).
    reader = csv.reader(io.StringIO(csv_text, newline=""))
    # (line number in the file, cells), blank lines skipped, so reports point at the real line
    try:
        rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except csv.Error:
        raise InvalidFields([FieldError.of("body", "csv-format")]) from None
    if not rows or tuple(cell.strip().lower() for cell in rows[0][1]) != CSV_HEADER:
        raise InvalidFields([FieldError.of("body", "csv-header")])
    if len(rows) - 1 > MAX_BATCH_LINES:
        raise InvalidFields([FieldError.of("body", "csv-too-long")])
    results: list[GrantResult] = []
    for number, row in rows[1:]:
        cells = [cell.strip() for cell in row] + ["", "", ""]
        if len(row) != len(CSV_HEADER):
            results.append(
                GrantResult(
                    number,
                    cells[0],
                    None,
                    cells[2],
                    GrantOutcome.REFUSED,
                    errors=[FieldError.of("line", "csv-columns")],
                )
            )
            continue
        results.append(
            grant_one(
                context=context,
                line=GrantLine(cells[0], cells[1], cells[2]),
                idempotency_key=f"{batch_key}:{number}",
                line_number=number,
                batch_key=batch_key,
            )
        )
    return results


def _find(db: Session, idempotency_key: str) -> Grant | None:
    return db.scalars(select(Grant).where(Grant.idempotency_key == idempotency_key)).one_or_none()


def _repeat(existing: Grant, line: GrantLine, points: int, line_number: int) -> GrantResult:
    """The answer for a key seen before: the first outcome, or a conflict if the content differs."""
    same = (existing.mykey_id, existing.points, existing.activity) == (
        line.mykey_id,
        points,
        line.activity,
    )
    if not same:
        return GrantResult(
            line_number,
            line.mykey_id,
            points,
            line.activity,
            GrantOutcome.REFUSED,
            errors=[FieldError.of("idempotency_key", "idempotency-key-reused")],
        )
    if existing.state == GrantState.GRANTED:
        return GrantResult(
            line_number,
            line.mykey_id,
            points,
            line.activity,
            GrantOutcome.ALREADY_GRANTED,
            transaction_hash=existing.transaction_hash,
        )
    return GrantResult(
        line_number,
        line.mykey_id,
        points,
        line.activity,
        GrantOutcome.IN_DOUBT,
        reason=Message(
            "この付与は処理中か、結果が確認できていません。台帳で確認してから再度お試しください。",
            "This grant is being submitted or its outcome is unknown; check the ledger first.",
        ),
    )
