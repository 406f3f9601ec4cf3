"""The current schema of the private store, mapped as SQLAlchemy 2.0 typed classes.

The tables are created by `api.store.migrations`, never by `metadata.create_all`; a test checks
that the migrated database and these mappings agree column for column. Times are integer Unix
seconds (UTC) so comparisons mean the same in SQLite and PostgreSQL. Secrets are stored only in
forms useless to a reader of the database: password hashes (argon2id), session token hashes
(SHA-256), and service IDs as AES-GCM ciphertext whose key lives in a file outside it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Base of every mapped table."""


class Account(Base):
    """A resident's MyKey ID with their My Page login and notice choices."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mykey_id: Mapped[str] = mapped_column(String(8), unique=True)
    certificate_fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    certificate_not_after: Mapped[int] = mapped_column(BigInteger)
    password_hash: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(254))
    notify_points_granted: Mapped[bool] = mapped_column(Boolean)
    notify_points_expired: Mapped[bool] = mapped_column(Boolean)
    notify_password_changed: Mapped[bool] = mapped_column(Boolean)
    notify_mykey_id_changes: Mapped[bool] = mapped_column(Boolean)
    home_prefecture: Mapped[str] = mapped_column(String(2))
    home_municipality: Mapped[str] = mapped_column(String(5))
    failed_login_count: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    password_changed_at: Mapped[int] = mapped_column(BigInteger)


class CardChallenge(Base):
    """A random challenge for the card to sign; used once, before it expires."""

    __tablename__ = "card_challenges"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    challenge: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used: Mapped[bool] = mapped_column(Boolean)


class Registration(Base):
    """A MyKey ID registration in progress (deck screen 16), opened by a verified card."""

    __tablename__ = "registrations"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    certificate_fingerprint: Mapped[str] = mapped_column(String(64))
    certificate_not_after: Mapped[int] = mapped_column(BigInteger)
    candidate: Mapped[str | None] = mapped_column(String(8))
    candidate_checked: Mapped[bool] = mapped_column(Boolean)
    generations: Mapped[int] = mapped_column(Integer)
    duplicate_errors: Mapped[int] = mapped_column(Integer)
    candidate_fixed: Mapped[bool] = mapped_column(Boolean)
    completed: Mapped[bool] = mapped_column(Boolean)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class ResidentSession(Base):
    """A My Page login; the client holds the token, the store only its SHA-256."""

    __tablename__ = "resident_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class StaffAccount(Base):
    """A municipal staff member, treasurer, partner operator, node operator or administrator."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    login_name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    organisation: Mapped[str | None] = mapped_column(String(64))
    """Municipality code for municipal roles, partner or business name for others."""
    active: Mapped[bool] = mapped_column(Boolean)
    failed_login_count: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)


class StaffSession(Base):
    """A staff login; the client holds the token, the store only its SHA-256."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id", ondelete="CASCADE"))
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class ServiceLink(Base):
    """A service's customer number for one resident, encrypted with AES-GCM.

    The additional authenticated data binds the ciphertext to (account, service), so a row copied
    onto another account or service fails to decrypt instead of leaking the number there.
    """

    __tablename__ = "service_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    service_code: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    service_id_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[int] = mapped_column(BigInteger)


class OutboxMessage(Base):
    """A notice e-mail waiting to be sent, being sent, or sent.

    `idempotency_key` is unique: enqueuing the same notice twice yields one row. `message_id` is
    fixed at enqueue time so a retry after a crash carries the same Message-ID header.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[int | None] = mapped_column(BigInteger)
    next_attempt_at: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    sent_at: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text)


class AuditRecord(Base):
    """Who did what, when, and which ledger transaction it made (if any). Append-only."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[int] = mapped_column(BigInteger)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128))
    transaction_hash: Mapped[str | None] = mapped_column(String(66))
    detail: Mapped[str] = mapped_column(Text)


class Grant(Base):
    """An administrative point grant, claimed by its idempotency key before the ledger sees it.

    `state` is `submitting` while the transaction is out, then `granted` with its hash; a row
    left `submitting` by a crash is found on-chain again by `reference` (SHA-256 of the key).
    """

    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    reference: Mapped[str] = mapped_column(String(64))
    municipality: Mapped[str] = mapped_column(String(5))
    mykey_id: Mapped[str] = mapped_column(String(8))
    points: Mapped[int] = mapped_column(Integer)
    activity: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    transaction_hash: Mapped[str | None] = mapped_column(String(66))
    granted_by: Mapped[str] = mapped_column(String(64))
    batch_key: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[int] = mapped_column(BigInteger)
