"""One-off coupon codes: a partner issues a batch, a resident redeems one code into a reserve.

DOMAIN.md flow 5: partners without linked member accounts hand out one-off codes. A partner
operator issues up to `MAX_BATCH` codes (`api.services.coupon_codes`); they are shown once and
stored only as keyed hashes (`api.services.partner_links.keyed_hash`), so the database cannot
give them back. A resident redeems a code on My Page; the conversion is sent from the partner's
key exactly as an operator's conversion is, and the reserve it made is returned.

Invariants: a code converts at most once — the claim is one conditional UPDATE
(`issued` -> `redeeming`), which SQLite's single writer and PostgreSQL's row lock both make
atomic; a claim is released only when the ledger refused (nothing moved), and stays claimed when
the outcome is in doubt. An expired code converts nothing. Wrong codes count against the
resident like wrong passwords (the lock-out policy's threshold and duration), so guessing codes
is slowed; a typo caught by the check symbol does not count, it never reached a lookup.
Issuing and redeeming are audited (never with a code).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.chain.ledger import tx_hash_of
from api.chain.reserves import Conversion
from api.chain.side import ChainSide
from api.errors import (
    ApiError,
    FieldError,
    Gone,
    InvalidFields,
    LedgerUnavailable,
    NotFound,
    SubmissionInDoubt,
)
from api.messages import Message
from api.services.audit import Actor, record_audit
from api.services.coupon_codes import (
    CouponCode,
    CouponCodeCheckFailed,
    CouponCodeMalformed,
    random_code,
    read_code,
)
from api.services.lockout import LockoutPolicy
from api.services.partner_links import keyed_hash
from api.store.models import Account, Coupon, CouponAttempts, CouponBatch

MAX_BATCH = 1000
MAX_PARTNER_UNITS = 10_000_000
CODE_DOMAIN = "coupon"

ISSUED = "issued"
REDEEMING = "redeeming"
USED = "used"

CODE_FORMAT = Message(
    "クーポンコードは16文字（4文字ずつ4組）の英数字です。",
    "A coupon code is 16 letters and digits (four groups of four).",
)
CODE_CHECK = Message(
    "クーポンコードに入力の誤りがあります。もう一度確認してください。",
    "The coupon code has a typing mistake (its check symbol does not match). Please check it.",
)


class CouponUnknown(NotFound):
    """No coupon has this code."""

    slug = "coupon-unknown"
    title = "Coupon code not found"


class CouponUsed(Gone):
    """The code was already redeemed (or is being redeemed)."""

    slug = "coupon-used"
    title = "Coupon code already used"


class CouponExpired(Gone):
    """The code's batch has passed its expiry time."""

    slug = "coupon-expired"
    title = "Coupon code expired"


class CouponAttemptsLimited(ApiError):
    """Too many wrong codes in a row: redemption is paused for this resident for a while."""

    status = 429
    slug = "coupon-attempts-limited"
    title = "Too many wrong coupon codes"


@dataclass(frozen=True)
class IssuedBatch:
    """A new batch and its codes, printed; the only time the codes are seen."""

    batch_id: int
    partner: int
    partner_units: int
    expires_at: int
    codes: list[str]


@dataclass(frozen=True)
class BatchSummary:
    """How a batch is doing: codes issued, used, and expired unused."""

    batch_id: int
    partner_units: int
    expires_at: int
    created_at: int
    issued: int
    used: int
    expired: int


@dataclass(frozen=True)
class ClaimedCoupon:
    """A coupon this resident holds the claim on, ready to convert."""

    coupon_id: int
    batch_id: int
    partner: int
    partner_units: int


def issue_batch(
    *,
    db: Session,
    hash_key: bytes,
    actor: Actor,
    partner: int,
    count: int,
    partner_units: int,
    expires_at: int,
    now: int,
) -> IssuedBatch:
    """Issue `count` codes worth `partner_units` each until `expires_at`; return them printed.

    Raises InvalidFields naming each wrong field.
    """
    errors: list[FieldError] = []
    if not 1 <= count <= MAX_BATCH:
        errors.append(FieldError("count", "count-range", _COUNT_RANGE))
    if not 1 <= partner_units <= MAX_PARTNER_UNITS:
        errors.append(FieldError("partner_units", "invalid", _UNITS_RANGE))
    if expires_at <= now:
        errors.append(FieldError("expires_at", "in-the-past", _EXPIRES_IN_PAST))
    if errors:
        raise InvalidFields(errors)
    batch = CouponBatch(
        partner=partner,
        partner_units=partner_units,
        expires_at=expires_at,
        count=count,
        issued_by=actor.name,
        created_at=now,
    )
    db.add(batch)
    db.flush()
    codes: dict[str, CouponCode] = {}
    while len(codes) < count:  # 75 random bits: a repeat is astronomically unlikely, still handled
        code = random_code()
        codes[keyed_hash(hash_key, CODE_DOMAIN, code.data)] = code
    db.add_all(Coupon(batch_id=batch.id, code_hash=digest, state=ISSUED) for digest in codes)
    record_audit(
        db=db,
        at=now,
        actor=actor,
        action="coupon-batch-issued",
        target=f"partner:{partner}/batch:{batch.id}",
        detail={"count": count, "partner_units": partner_units, "expires_at": expires_at},
    )
    db.commit()
    return IssuedBatch(
        batch_id=batch.id,
        partner=partner,
        partner_units=partner_units,
        expires_at=expires_at,
        codes=[code.printed for code in codes.values()],
    )


def batches_of(*, db: Session, partner: int, now: int) -> list[BatchSummary]:
    """Return `partner`'s batches, newest first, with their counts (never the codes)."""
    used = func.sum(case((Coupon.state != ISSUED, 1), else_=0))
    unused = func.sum(case((Coupon.state == ISSUED, 1), else_=0))
    rows = db.execute(
        select(CouponBatch, used, unused)
        .join(Coupon, Coupon.batch_id == CouponBatch.id)
        .where(CouponBatch.partner == partner)
        .group_by(CouponBatch.id)
        .order_by(CouponBatch.id.desc())
    ).all()
    return [
        BatchSummary(
            batch_id=batch.id,
            partner_units=batch.partner_units,
            expires_at=batch.expires_at,
            created_at=batch.created_at,
            issued=batch.count,
            used=int(used_count or 0),
            expired=int(unused_count or 0) if batch.expires_at <= now else 0,
        )
        for batch, used_count, unused_count in rows
    ]


def claim_coupon(
    *,
    db: Session,
    hash_key: bytes,
    policy: LockoutPolicy,
    account: Account,
    code_text: str,
    now: int,
) -> ClaimedCoupon:
    """Read the code and claim it for `account`; the claim is this resident's alone.

    Raises CouponAttemptsLimited while paused, InvalidFields for a malformed or mistyped code,
    and CouponUnknown / CouponUsed / CouponExpired (each counted as a wrong attempt).
    """
    attempts = db.get(CouponAttempts, account.id)
    if attempts is not None and attempts.locked_until is not None and attempts.locked_until > now:
        raise _limited(attempts.locked_until, now)
    try:
        code = read_code(code_text)
    except CouponCodeMalformed:
        raise InvalidFields([FieldError("code", "coupon-code-format", CODE_FORMAT)]) from None
    except CouponCodeCheckFailed:
        raise InvalidFields([FieldError("code", "coupon-code-check", CODE_CHECK)]) from None
    digest = keyed_hash(hash_key, CODE_DOMAIN, code.data)
    found = db.execute(
        select(Coupon.id, Coupon.state, CouponBatch)
        .join(CouponBatch, CouponBatch.id == Coupon.batch_id)
        .where(Coupon.code_hash == digest)
    ).one_or_none()
    if found is None:
        raise _count_failure(db, policy, account, now, _unknown())
    coupon_id, state, batch = found
    if batch.expires_at <= now:
        raise _count_failure(db, policy, account, now, _expired(batch.expires_at))
    claimed = db.execute(
        update(Coupon)
        .where(Coupon.id == coupon_id, Coupon.state == ISSUED)
        .values(state=REDEEMING, account_id=account.id, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    if state != ISSUED or getattr(claimed, "rowcount", 0) != 1:
        db.rollback()
        raise _count_failure(db, policy, account, now, _used())
    if attempts is not None:
        attempts.failed_count = 0
        attempts.locked_until = None
    db.commit()
    return ClaimedCoupon(coupon_id, batch.id, batch.partner, batch.partner_units)


def release_claim(*, db: Session, coupon_id: int) -> None:
    """Give a claimed code back (the ledger refused, so nothing moved)."""
    db.rollback()
    db.execute(
        update(Coupon)
        .where(Coupon.id == coupon_id, Coupon.state == REDEEMING)
        .values(state=ISSUED, account_id=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    db.commit()


def redeem_coupon(
    *,
    db: Session,
    chain: ChainSide | None,
    hash_key: bytes,
    policy: LockoutPolicy,
    account: Account,
    actor: Actor,
    code_text: str,
    now: int,
) -> Conversion:
    """Claim the code, convert from the partner's key, return the reserve once final.

    Raises what `claim_coupon` raises, LedgerUnavailable without a chain side, the ledger's
    refusals (the code is then released) or SubmissionInDoubt (it stays claimed: it may have
    converted).
    """
    claim = claim_coupon(
        db=db, hash_key=hash_key, policy=policy, account=account, code_text=code_text, now=now
    )
    reference = hashlib.sha256(f"coupon:{claim.coupon_id}".encode()).digest()
    try:
        if chain is None:
            raise LedgerUnavailable(_NO_CHAIN)
        sent = chain.ledger.convert(claim.partner, account.mykey_id, claim.partner_units, reference)
        event = sent.event("PointsConverted")
    except SubmissionInDoubt:
        raise
    except ApiError:
        release_claim(db=db, coupon_id=claim.coupon_id)
        raise
    conversion = Conversion(
        reserve_id=int(event.args["reserveId"]),
        amount=int(event.args["amount"]),
        deadline=int(event.args["deadline"]),
        home_municipality=int(event.args["homeMunicipality"]),
        transaction_hash=tx_hash_of(sent),
    )
    coupon = db.get(Coupon, claim.coupon_id)
    assert coupon is not None  # claimed above; coupons are never deleted
    coupon.state = USED
    coupon.reserve_id = conversion.reserve_id
    coupon.transaction_hash = conversion.transaction_hash
    record_audit(
        db=db,
        at=now,
        actor=actor,
        action="coupon-redeemed",
        target=f"partner:{claim.partner}/batch:{claim.batch_id}/coupon:{claim.coupon_id}",
        transaction_hash=conversion.transaction_hash,
        detail={"units": claim.partner_units, "reserve": conversion.reserve_id},
    )
    db.commit()
    return conversion


def _count_failure(
    db: Session, policy: LockoutPolicy, account: Account, now: int, error: ApiError
) -> ApiError:
    """Count one wrong code (committed at once); return the error to raise."""
    attempts = db.get(CouponAttempts, account.id)
    if attempts is None:
        db.add(CouponAttempts(account_id=account.id, failed_count=0, locked_until=None))
        try:
            db.commit()
        except IntegrityError:
            db.rollback()  # a concurrent wrong code of the same resident made the row first
        attempts = db.get(CouponAttempts, account.id, populate_existing=True)
        assert attempts is not None  # it exists now, ours or the other request's
    attempts.failed_count += 1
    locked = attempts.failed_count >= policy.threshold
    if locked:
        attempts.failed_count = 0
        attempts.locked_until = now + policy.lock_seconds
    db.commit()
    if locked and attempts.locked_until is not None:
        return _limited(attempts.locked_until, now)
    return error


def _limited(locked_until: int, now: int) -> CouponAttemptsLimited:
    minutes = max(1, -(-(locked_until - now) // 60))
    return CouponAttemptsLimited(
        Message(
            f"クーポンコードを続けて間違えたため、約{minutes}分間入力できません。",
            f"Too many wrong coupon codes: try again in about {minutes} minutes.",
        ),
        extensions={"locked_until": locked_until},
        headers={"Retry-After": str(max(locked_until - now, 1))},
    )


def _unknown() -> CouponUnknown:
    return CouponUnknown(
        Message("このクーポンコードは見つかりません。", "No coupon has this code; please check it.")
    )


def _used() -> CouponUsed:
    return CouponUsed(
        Message("このクーポンコードは使用済みです。", "This coupon code has already been used.")
    )


def _expired(expires_at: int) -> CouponExpired:
    return CouponExpired(
        Message(
            "このクーポンコードは有効期限が切れています。",
            f"This coupon code expired (at Unix time {expires_at}).",
        ),
        extensions={"expires_at": expires_at},
    )


_NO_CHAIN = Message(
    "台帳に接続できません。しばらくしてからもう一度お試しください。",
    "The ledger side of the API is not configured. Please try again later.",
)
_COUNT_RANGE = Message(
    f"発行数は1～{MAX_BATCH:,}の半角数字で入力してください。",
    f"A batch has 1 to {MAX_BATCH:,} codes.",
)
_UNITS_RANGE = Message(
    f"ポイント数は1～{MAX_PARTNER_UNITS:,}の半角数字で入力してください。",
    f"Partner units are a whole number from 1 to {MAX_PARTNER_UNITS:,}.",
)
_EXPIRES_IN_PAST = Message(
    "有効期限は現在より後の日時にしてください。", "The expiry time must be in the future."
)
