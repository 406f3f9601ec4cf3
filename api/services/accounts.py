"""Residents' My Page accounts: login, session check, logout, password change, own details.

Login is MyKey ID + password (argon2id); five wrong passwords in a row lock the account for a
while (`api.services.lockout`). An unknown MyKey ID and a wrong password get the same answer and
take the same time. Sessions expire a fixed time after login; a password change ends every other
session of that account. Every write adds an audit record; a password change also queues the
"password changed" notice when the resident chose it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.errors import AuthenticationFailed, FieldError, InvalidFields
from api.messages import Message
from api.notices.outbox import enqueue_notice
from api.notices.render import NoticeKind
from api.passwords import PasswordService, is_valid_resident_password
from api.services.audit import Actor, ActorKind, record_audit
from api.services.lockout import (
    LockAudit,
    LockoutPolicy,
    check_password,
    ensure_not_locked,
    locked_error,
    record_failure,
    record_success,
)
from api.store.models import Account, ResidentSession
from api.tokens import new_token, token_hash

LOGIN_FAILED = Message(
    "マイキーIDまたはパスワードが正しくありません。",
    "The MyKey ID or the password is not correct.",
)
SESSION_INVALID = Message(
    "ログインの有効期限が切れました。もう一度ログインしてください。",
    "Your login has expired. Please log in again.",
)


@dataclass(frozen=True)
class IssuedSession:
    """A new login: the token (shown to the client once) and when it ends."""

    token: str
    expires_at: int


@dataclass(frozen=True)
class AuthenticatedResident:
    """The account behind a valid session token."""

    account: Account
    session_token_hash: str


def resident_actor(account: Account) -> Actor:
    """Return the audit actor for a resident."""
    return Actor(ActorKind.RESIDENT, account.mykey_id)


def login_resident(
    *,
    db: Session,
    passwords: PasswordService,
    lockout: LockoutPolicy,
    session_ttl_seconds: int,
    mykey_id: str,
    password: str,
    now: int,
) -> IssuedSession:
    """Check the password and open a session.

    Raises AuthenticationFailed for an unknown MyKey ID or a wrong password, AccountLocked while
    locked or when this failure reaches the threshold.
    """
    account = db.scalars(select(Account).where(Account.mykey_id == mykey_id)).one_or_none()
    if account is None:
        passwords.verify_dummy(password)
        raise AuthenticationFailed(LOGIN_FAILED)
    check_password(
        db=db,
        passwords=passwords,
        policy=lockout,
        account=account,
        password=password,
        now=now,
        audit=LockAudit(resident_actor(account), "resident.locked", account.mykey_id),
        failure=LOGIN_FAILED,
    )
    token = new_token()
    expires_at = now + session_ttl_seconds
    db.add(
        ResidentSession(
            token_hash=token_hash(token),
            account_id=account.id,
            created_at=now,
            expires_at=expires_at,
        )
    )
    db.commit()
    return IssuedSession(token=token, expires_at=expires_at)


def authenticate_resident(*, db: Session, token: str, now: int) -> AuthenticatedResident:
    """Return the resident whose session `token` is; raise AuthenticationFailed otherwise."""
    hashed = token_hash(token)
    session = db.get(ResidentSession, hashed)
    if session is None:
        raise AuthenticationFailed(SESSION_INVALID)
    if session.expires_at <= now:
        db.delete(session)
        db.commit()
        raise AuthenticationFailed(SESSION_INVALID)
    account = db.get(Account, session.account_id)
    if account is None:
        raise AuthenticationFailed(SESSION_INVALID)
    return AuthenticatedResident(account=account, session_token_hash=hashed)


def logout_resident(*, db: Session, session_token_hash: str) -> None:
    """End one session (idempotent)."""
    db.execute(delete(ResidentSession).where(ResidentSession.token_hash == session_token_hash))
    db.commit()


def change_password(
    *,
    db: Session,
    passwords: PasswordService,
    lockout: LockoutPolicy,
    resident: AuthenticatedResident,
    current_password: str,
    new_password: str,
    new_password_confirmation: str,
    now: int,
    mail_domain: str,
) -> None:
    """Replace the password, end the account's other sessions, and queue the notice.

    Raises InvalidFields naming each wrong field; a wrong current password counts towards the
    lock-out like a failed login (AccountLocked when it reaches the threshold).
    """
    account = resident.account
    ensure_not_locked(account, now)
    errors: list[FieldError] = []
    if not is_valid_resident_password(new_password):
        errors.append(FieldError.of("new_password", "password-format"))
    elif new_password != new_password_confirmation:
        errors.append(FieldError.of("new_password_confirmation", "password-confirmation-mismatch"))
    current_ok = passwords.verify(account.password_hash, current_password)
    if not current_ok:
        errors.insert(0, FieldError.of("current_password", "password-incorrect"))
        if record_failure(account, lockout, now) and account.locked_until is not None:
            db.commit()
            raise locked_error(account.locked_until, now)
        db.commit()
    elif new_password == current_password and not errors:
        errors.append(FieldError.of("new_password", "password-unchanged"))
    if errors:
        raise InvalidFields(errors)
    record_success(account)
    account.password_hash = passwords.hash(new_password)
    account.password_changed_at = now
    db.execute(
        delete(ResidentSession).where(
            ResidentSession.account_id == account.id,
            ResidentSession.token_hash != resident.session_token_hash,
        )
    )
    audit = record_audit(
        db=db,
        at=now,
        actor=resident_actor(account),
        action="resident.password-changed",
        target=account.mykey_id,
    )
    enqueue_notice(
        db=db,
        account=account,
        kind=NoticeKind.PASSWORD_CHANGED,
        idempotency_key=f"audit:{audit.id}",
        facts={"mykey_id": account.mykey_id},
        now=now,
        mail_domain=mail_domain,
    )
    db.commit()


def update_notice_choices(
    *,
    db: Session,
    resident: AuthenticatedResident,
    points_granted: bool,
    points_expired: bool,
    password_changed: bool,
    mykey_id_changes: bool,
    now: int,
) -> Account:
    """Replace which notices the resident receives; audited. Returns the updated account."""
    account = resident.account
    account.notify_points_granted = points_granted
    account.notify_points_expired = points_expired
    account.notify_password_changed = password_changed
    account.notify_mykey_id_changes = mykey_id_changes
    record_audit(
        db=db,
        at=now,
        actor=resident_actor(account),
        action="resident.notices-changed",
        target=account.mykey_id,
        detail={
            "points_granted": points_granted,
            "points_expired": points_expired,
            "password_changed": password_changed,
            "mykey_id_changes": mykey_id_changes,
        },
    )
    db.commit()
    return account
