"""Lock-out after repeated wrong passwords, shared by residents' and staff logins.

After `threshold` consecutive failures the account is locked for `lock_seconds`; while locked,
no password is even checked (so guessing gains nothing), and a correct password afterwards
resets the count. The counters live on the account row and are committed with the failure, so a
restart or a second API process does not reset them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from api.errors import AccountLocked, AuthenticationFailed
from api.messages import Message
from api.passwords import PasswordService
from api.services.audit import Actor, record_audit


class Lockable(Protocol):
    """A row with lock-out counters (resident or staff account)."""

    failed_login_count: int
    locked_until: int | None


class PasswordHolder(Lockable, Protocol):
    """A lockable row that also holds a password hash."""

    password_hash: str


@dataclass(frozen=True)
class LockAudit:
    """What the audit log says when a wrong password locks an account."""

    actor: Actor
    action: str
    target: str


@dataclass(frozen=True)
class LockoutPolicy:
    """How many failures lock an account, and for how long."""

    threshold: int
    lock_seconds: int


def locked_error(locked_until: int, now: int) -> AccountLocked:
    """Return the error for an account locked until `locked_until`."""
    minutes = max(1, -(-(locked_until - now) // 60))
    return AccountLocked(
        Message(
            f"パスワードを続けて間違えたため、ロックされています。約{minutes}分後に再度お試しください。",
            f"Too many wrong passwords: locked. Try again in about {minutes} minutes.",
        ),
        extensions={"locked_until": locked_until},
        headers={"Retry-After": str(max(locked_until - now, 1))},
    )


def ensure_not_locked(account: Lockable, now: int) -> None:
    """Raise AccountLocked while `account` is locked."""
    if account.locked_until is not None and account.locked_until > now:
        raise locked_error(account.locked_until, now)


def record_failure(account: Lockable, policy: LockoutPolicy, now: int) -> bool:
    """Count one wrong password; return True when this failure locked the account."""
    account.failed_login_count += 1
    if account.failed_login_count >= policy.threshold:
        account.failed_login_count = 0
        account.locked_until = now + policy.lock_seconds
        return True
    return False


def record_success(account: Lockable) -> None:
    """Reset the counters after a correct password."""
    account.failed_login_count = 0
    account.locked_until = None


def check_password(
    *,
    db: Session,
    passwords: PasswordService,
    policy: LockoutPolicy,
    account: PasswordHolder,
    password: str,
    now: int,
    audit: LockAudit,
    failure: Message,
) -> None:
    """Check `password` for `account` under the lock-out rules; return only when it is right.

    A wrong password is counted and committed at once (with an audit record when it locks the
    account). Raises AccountLocked while locked or when this failure locks it, otherwise
    AuthenticationFailed(`failure`).
    """
    ensure_not_locked(account, now)
    if passwords.verify(account.password_hash, password):
        record_success(account)
        return
    just_locked = record_failure(account, policy, now)
    if just_locked:
        record_audit(
            db=db,
            at=now,
            actor=audit.actor,
            action=audit.action,
            target=audit.target,
            detail={"locked_until": account.locked_until},
        )
    db.commit()
    if just_locked and account.locked_until is not None:
        raise locked_error(account.locked_until, now)
    raise AuthenticationFailed(failure)
