"""Staff and operator accounts with roles, their logins, and who may do what.

Roles: platform administrators (manage staff accounts, read the audit log), municipal staff,
treasurers, partner operators and node operators. The first administrator is made from the
command line (`mykey api create-staff`), recorded as done by `system`. Every write here adds an
audit record naming the staff member who made it. Logins lock out like residents' do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import (
    AuthenticationFailed,
    Conflict,
    FieldError,
    Forbidden,
    InvalidFields,
    NotFound,
)
from api.messages import Message
from api.passwords import PasswordService, is_valid_staff_password
from api.services.audit import Actor, ActorKind, record_audit
from api.services.lockout import LockAudit, LockoutPolicy, check_password
from api.store.models import StaffAccount, StaffSession
from api.tokens import new_token, token_hash


class StaffRole(StrEnum):
    """What a staff account may do."""

    PLATFORM_ADMIN = "platform-admin"
    MUNICIPAL_STAFF = "municipal-staff"
    TREASURER = "treasurer"
    PARTNER_OPERATOR = "partner-operator"
    NODE_OPERATOR = "node-operator"


LOGIN_NAME = re.compile(r"[A-Za-z0-9._@-]{3,64}")

STAFF_LOGIN_FAILED = Message(
    "ログイン名またはパスワードが正しくありません。", "The login name or password is not correct."
)
STAFF_SESSION_INVALID = Message(
    "ログインの有効期限が切れました。もう一度ログインしてください。",
    "Your login has expired. Please log in again.",
)


@dataclass(frozen=True)
class StaffSessionIssued:
    """A new staff login."""

    token: str
    expires_at: int
    role: StaffRole


def staff_actor(staff: StaffAccount) -> Actor:
    """Return the audit actor for a staff member."""
    return Actor(ActorKind.STAFF, staff.login_name)


def require_role(staff: StaffAccount, allowed: Iterable[StaffRole]) -> None:
    """Raise Forbidden unless `staff` has one of the `allowed` roles."""
    allowed_values = {role.value for role in allowed}
    if staff.role not in allowed_values:
        raise Forbidden(
            Message(
                "この操作を行う権限がありません。",
                f"Your role ({staff.role}) may not do this; it needs one of "
                f"{', '.join(sorted(allowed_values))}.",
            )
        )


def create_staff_account(
    *,
    db: Session,
    passwords: PasswordService,
    actor: Actor,
    login_name: str,
    password: str,
    role: str,
    organisation: str | None,
    now: int,
) -> StaffAccount:
    """Create a staff account; raise InvalidFields per wrong field, Conflict for a taken name."""
    errors: list[FieldError] = []
    if LOGIN_NAME.fullmatch(login_name) is None:
        errors.append(FieldError.of("login_name", "login-name-format"))
    if not is_valid_staff_password(password):
        errors.append(FieldError.of("password", "staff-password-format"))
    if role not in {item.value for item in StaffRole}:
        errors.append(FieldError.of("role", "role-unknown"))
    if errors:
        raise InvalidFields(errors)
    staff = StaffAccount(
        login_name=login_name,
        password_hash=passwords.hash(password),
        role=role,
        organisation=organisation,
        active=True,
        failed_login_count=0,
        locked_until=None,
        created_at=now,
    )
    db.add(staff)
    try:
        db.flush()
    except IntegrityError as error:
        db.rollback()
        raise Conflict(
            Message(
                f"ログイン名 {login_name} は既に使われています。",
                f"The login name {login_name} is already in use.",
            )
        ) from error
    record_audit(
        db=db,
        at=now,
        actor=actor,
        action="staff.created",
        target=login_name,
        detail={"role": role, "organisation": organisation},
    )
    db.commit()
    return staff


def deactivate_staff_account(
    *, db: Session, actor: StaffAccount, staff_id: int, now: int
) -> StaffAccount:
    """Deactivate a staff account and end its sessions; raise NotFound, Conflict (oneself)."""
    staff = db.get(StaffAccount, staff_id)
    if staff is None:
        raise NotFound(
            Message(f"職員アカウント {staff_id} はありません。", f"No staff account {staff_id}.")
        )
    if staff.id == actor.id:
        raise Conflict(
            Message(
                "自分自身のアカウントは無効にできません。",
                "You cannot deactivate your own account.",
            )
        )
    staff.active = False
    for session in db.scalars(select(StaffSession).where(StaffSession.staff_id == staff.id)):
        db.delete(session)
    record_audit(
        db=db,
        at=now,
        actor=staff_actor(actor),
        action="staff.deactivated",
        target=staff.login_name,
    )
    db.commit()
    return staff


def list_staff_accounts(*, db: Session) -> list[StaffAccount]:
    """Return every staff account, by id."""
    return list(db.scalars(select(StaffAccount).order_by(StaffAccount.id)).all())


def login_staff(
    *,
    db: Session,
    passwords: PasswordService,
    lockout: LockoutPolicy,
    session_ttl_seconds: int,
    login_name: str,
    password: str,
    now: int,
) -> StaffSessionIssued:
    """Check a staff password and open a session; raise AuthenticationFailed / AccountLocked."""
    staff = db.scalars(
        select(StaffAccount).where(StaffAccount.login_name == login_name)
    ).one_or_none()
    if staff is None or not staff.active:
        passwords.verify_dummy(password)
        raise AuthenticationFailed(STAFF_LOGIN_FAILED)
    check_password(
        db=db,
        passwords=passwords,
        policy=lockout,
        account=staff,
        password=password,
        now=now,
        audit=LockAudit(staff_actor(staff), "staff.locked", staff.login_name),
        failure=STAFF_LOGIN_FAILED,
    )
    token = new_token()
    expires_at = now + session_ttl_seconds
    db.add(
        StaffSession(
            token_hash=token_hash(token), staff_id=staff.id, created_at=now, expires_at=expires_at
        )
    )
    db.commit()
    return StaffSessionIssued(token=token, expires_at=expires_at, role=StaffRole(staff.role))


def authenticate_staff(*, db: Session, token: str, now: int) -> StaffAccount:
    """Return the active staff member whose session `token` is; raise AuthenticationFailed."""
    session = db.get(StaffSession, token_hash(token))
    if session is None:
        raise AuthenticationFailed(STAFF_SESSION_INVALID)
    staff = db.get(StaffAccount, session.staff_id)
    if session.expires_at <= now or staff is None or not staff.active:
        db.delete(session)
        db.commit()
        raise AuthenticationFailed(STAFF_SESSION_INVALID)
    return staff


def logout_staff(*, db: Session, token: str) -> None:
    """End one staff session (idempotent)."""
    session = db.get(StaffSession, token_hash(token))
    if session is not None:
        db.delete(session)
        db.commit()
