"""The current schema of the private store, mapped as SQLAlchemy 2.0 typed classes.

The tables are created by `api.store.migrations`, never by `metadata.create_all`; a test checks
that the migrated database and these mappings agree column for column. Times are integer Unix
seconds (UTC) so comparisons mean the same in SQLite and PostgreSQL. Secrets are stored only in
forms useless to a reader of the database: password hashes (argon2id), session token hashes
(SHA-256), service IDs and partner member numbers as AES-GCM ciphertext whose key lives in a file
outside it, and coupon codes only as keyed hashes.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
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


class TerminalNonce(Base):
    """A terminal request nonce already used (docs/terminal-requests.md, check 4)."""

    __tablename__ = "terminal_nonces"
    __table_args__ = (UniqueConstraint("terminal", "nonce", name="uq_terminal_nonces"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    terminal: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[str] = mapped_column(String(32))
    seen_at: Mapped[int] = mapped_column(BigInteger)


class TerminalAction(Base):
    """A redemption or voucher a terminal opened; the card's signed statement is its evidence.

    `state` goes `open` -> `submitting` -> `done` (or `refused`); only an `open` action before
    `expires_at` may be answered, so one statement moves points at most once.
    """

    __tablename__ = "terminal_actions"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    terminal: Mapped[str] = mapped_column(String(42))
    business: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    statement: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    mykey_id: Mapped[str | None] = mapped_column(String(8))
    municipality: Mapped[str | None] = mapped_column(String(5))
    card_signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    certificate_fingerprint: Mapped[str | None] = mapped_column(String(64))
    transaction_hash: Mapped[str | None] = mapped_column(String(66))
    service_code: Mapped[str | None] = mapped_column(String(64))
    """For a service-ID lookup: the service whose number the terminal asked for."""
    created_at: Mapped[int] = mapped_column(BigInteger)
    signing: Mapped[str | None] = mapped_column(String(16))
    """"terminal" when the terminal signs its own transaction (option B); null: the API signs."""
    prepared_transaction: Mapped[str | None] = mapped_column(Text)
    """Option B: the unsigned transaction (JSON) handed to the terminal after the card answer."""


class ChainCursor(Base):
    """The next block the indexer reads; moved in the same transaction as that block's events."""

    __tablename__ = "chain_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_block: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class ChainEvent(Base):
    """One decoded ledger event; (block_number, log_index) is unique, so none is stored twice."""

    __tablename__ = "chain_events"
    __table_args__ = (
        UniqueConstraint("block_number", "log_index", name="uq_chain_events_position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    log_index: Mapped[int] = mapped_column(Integer)
    block_timestamp: Mapped[int] = mapped_column(BigInteger)
    transaction_hash: Mapped[str] = mapped_column(String(66))
    contract: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(32))
    mykey_id: Mapped[str | None] = mapped_column(String(8))
    municipality: Mapped[int | None] = mapped_column(Integer)
    counterparty: Mapped[int | None] = mapped_column(BigInteger)
    """Business id (redemptions, refunds, vouchers redeemed) or partner id (conversions)."""
    amount: Mapped[int | None] = mapped_column(BigInteger)
    period: Mapped[int | None] = mapped_column(Integer)
    args_json: Mapped[str] = mapped_column(Text)


class Service(Base):
    """A service whose customer numbers residents link (a library ...), and the business running it.

    Only terminals of that business may look its numbers up.
    """

    __tablename__ = "services"

    service_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    business: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[int] = mapped_column(BigInteger)


class ServiceLinkState(Base):
    """Until when a linked customer card is valid; when its service last confirmed the address."""

    __tablename__ = "service_link_states"
    __table_args__ = (
        UniqueConstraint("account_id", "service_code", name="uq_service_link_states"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    service_code: Mapped[str] = mapped_column(String(64))
    valid_until: Mapped[int | None] = mapped_column(BigInteger)
    address_confirmed_at: Mapped[int] = mapped_column(BigInteger)


class AddressChange(Base):
    """A resident's address changed (reported by their municipality); the date only, no address."""

    __tablename__ = "address_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    changed_at: Mapped[int] = mapped_column(BigInteger)
    reported_by: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[int | None] = mapped_column(BigInteger)
    """When the municipality reported it (schema v4); what a service's feed `since` compares."""


ACTIVE_CARD_INDEX = "uq_card_bindings_active_card"
ACTIVE_MYKEY_INDEX = "uq_card_bindings_active_mykey"


class CardBinding(Base):
    """A card (by its keyed identifier, card_bridge.platform_checks.binding) bound to a MyKey ID.

    At most one active row (retired_at NULL) per card and per MyKey ID; retired rows stay for audit.
    """

    __tablename__ = "card_bindings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    card_key_id: Mapped[bytes] = mapped_column(LargeBinary, index=True)
    mykey_id: Mapped[str] = mapped_column(String(8), index=True)
    bound_at: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(16))
    municipality_code: Mapped[str | None] = mapped_column(String(5))
    retired_at: Mapped[int | None] = mapped_column(BigInteger)

    # Schema v5: the database itself keeps "one active row per card and per MyKey ID", since a
    # FOR UPDATE check locks nothing while no row exists yet (two first binds could both pass).
    __table_args__ = (
        Index(
            ACTIVE_CARD_INDEX,
            "card_key_id",
            unique=True,
            sqlite_where=text("retired_at IS NULL"),
            postgresql_where=text("retired_at IS NULL"),
        ),
        Index(
            ACTIVE_MYKEY_INDEX,
            "mykey_id",
            unique=True,
            sqlite_where=text("retired_at IS NULL"),
            postgresql_where=text("retired_at IS NULL"),
        ),
    )


class PartnerLink(Base):
    """A partner's member number linked by the resident, with consent (schema v4).

    The number is AES-GCM ciphertext (the service-ID cipher, sealed for `partner:<id>`) and a
    keyed hash (`member_number_hash`) so a conversion by member number finds the row without
    decrypting every one. One number per partner per resident; one resident per number.
    """

    __tablename__ = "partner_links"
    __table_args__ = (
        UniqueConstraint("account_id", "partner", name="uq_partner_links_account_partner"),
        UniqueConstraint("partner", "member_number_hash", name="uq_partner_links_member"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    partner: Mapped[int] = mapped_column(BigInteger)
    member_number_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    member_number_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    consented_at: Mapped[int] = mapped_column(BigInteger)


class CouponBatch(Base):
    """A batch of one-off coupon codes a partner issued: each converts `partner_units` once."""

    __tablename__ = "coupon_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner: Mapped[int] = mapped_column(BigInteger)
    partner_units: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    issued_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)


class Coupon(Base):
    """One coupon code, stored only as its keyed hash.

    `state` goes `issued` -> `redeeming` (claimed by one resident, the conversion in flight) ->
    `used`; a claim is a single conditional UPDATE, so one code converts at most once.
    """

    __tablename__ = "coupons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("coupon_batches.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    claimed_at: Mapped[int | None] = mapped_column(BigInteger)
    reserve_id: Mapped[int | None] = mapped_column(BigInteger)
    transaction_hash: Mapped[str | None] = mapped_column(String(66))


class CouponAttempts(Base):
    """A resident's run of wrong coupon codes and the lock it earned (guessing is slowed)."""

    __tablename__ = "coupon_attempts"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    failed_count: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[int | None] = mapped_column(BigInteger)


class AddressChangeConfirmation(Base):
    """A service has updated its records after an address change; its lookups stop flagging it."""

    __tablename__ = "address_change_confirmations"
    __table_args__ = (
        UniqueConstraint(
            "address_change_id", "service_code", name="uq_address_change_confirmations"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address_change_id: Mapped[int] = mapped_column(
        ForeignKey("address_changes.id", ondelete="CASCADE")
    )
    service_code: Mapped[str] = mapped_column(String(64))
    confirmed_at: Mapped[int] = mapped_column(BigInteger)
    confirmed_by: Mapped[str] = mapped_column(String(64))


class KeeperLease(Base):
    """A keeper's lease (who runs it, until when) and what its last run did.

    Only the holder of an unexpired lease runs the keeper; `api.keepers.leases` takes it with a
    compare-and-set UPDATE so two processes never both hold it.
    """

    __tablename__ = "keeper_leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[int] = mapped_column(BigInteger)
    last_started_at: Mapped[int | None] = mapped_column(BigInteger)
    last_finished_at: Mapped[int | None] = mapped_column(BigInteger)
    last_report_json: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_due_at: Mapped[int | None] = mapped_column(BigInteger)


class SenderNonce(Base):
    """The next nonce of an address the API signs for, shared by every API process.

    `api.chain.nonces` locks the row only while taking a nonce; the value is never below the
    node's `pending` count once re-synced.
    """

    __tablename__ = "sender_nonces"

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    next_nonce: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    pending_seen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The node's pending count at the last take (schema v9)."""
    pending_since: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """When `pending_seen` last changed: a count standing still while the store is ahead of it
    means a taken nonce never reached the node."""


class SenderNonceGap(Base):
    """A nonce handed out for a send that never reached the node, below a later one.

    The next send from that address takes the lowest gap first (see `api.chain.nonces`).
    """

    __tablename__ = "sender_nonce_gaps"

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    nonce: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class ExpirySweep(Base):
    """Block time of the last final `sweepExpired` of one (MyKey ID, municipality, account).

    Every lot of that account expiring at or before `swept_through` is recorded (pruned).
    """

    __tablename__ = "expiry_sweeps"
    __table_args__ = (
        UniqueConstraint("mykey_id", "municipality", "account", name="uq_expiry_sweeps_account"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mykey_id: Mapped[str] = mapped_column(String(8))
    municipality: Mapped[int] = mapped_column(Integer)
    account: Mapped[int] = mapped_column(BigInteger)
    swept_through: Mapped[int] = mapped_column(BigInteger)
