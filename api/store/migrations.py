"""Versioned schema migrations for the private store, and the runner that applies them.

Each migration is a numbered function over a connection that describes its tables with its own
frozen SQLAlchemy Core definitions (never the current `api.store.models`), so the history replays
the same on SQLite and PostgreSQL whatever the models become later. The runner records each
applied version in `schema_migrations` inside the same transaction as the change: a migration is
applied whole or not at all, and each at most once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
    text,
)


class MigrationError(Exception):
    """The database's schema is newer than this program or a migration failed."""


@dataclass(frozen=True)
class Migration:
    """One step of the schema's history."""

    version: int
    name: str
    apply: Callable[[Connection], None]


_VERSIONS = MetaData()
SCHEMA_MIGRATIONS = Table(
    "schema_migrations",
    _VERSIONS,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(128), nullable=False),
    Column("applied_at", BigInteger, nullable=False),
)


def _initial_schema(connection: Connection) -> None:
    """Version 1: accounts, challenges, registrations, sessions, staff, links, outbox, audit."""
    metadata = MetaData()
    Table(
        "accounts",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("mykey_id", String(8), nullable=False, unique=True),
        Column("certificate_fingerprint", String(64), nullable=False, unique=True),
        Column("certificate_not_after", BigInteger, nullable=False),
        Column("password_hash", String(255), nullable=False),
        Column("email", String(254), nullable=True),
        Column("notify_points_granted", Boolean, nullable=False),
        Column("notify_points_expired", Boolean, nullable=False),
        Column("notify_password_changed", Boolean, nullable=False),
        Column("notify_mykey_id_changes", Boolean, nullable=False),
        Column("home_prefecture", String(2), nullable=False),
        Column("home_municipality", String(5), nullable=False),
        Column("failed_login_count", Integer, nullable=False),
        Column("locked_until", BigInteger, nullable=True),
        Column("created_at", BigInteger, nullable=False),
        Column("password_changed_at", BigInteger, nullable=False),
    )
    Table(
        "card_challenges",
        metadata,
        Column("id", String(43), primary_key=True),
        Column("challenge", LargeBinary, nullable=False),
        Column("expires_at", BigInteger, nullable=False),
        Column("used", Boolean, nullable=False),
    )
    Table(
        "registrations",
        metadata,
        Column("id", String(43), primary_key=True),
        Column("certificate_fingerprint", String(64), nullable=False),
        Column("certificate_not_after", BigInteger, nullable=False),
        Column("candidate", String(8), nullable=True),
        Column("candidate_checked", Boolean, nullable=False),
        Column("generations", Integer, nullable=False),
        Column("duplicate_errors", Integer, nullable=False),
        Column("candidate_fixed", Boolean, nullable=False),
        Column("completed", Boolean, nullable=False),
        Column("expires_at", BigInteger, nullable=False),
    )
    Table(
        "resident_sessions",
        metadata,
        Column("token_hash", String(64), primary_key=True),
        Column(
            "account_id",
            Integer,
            ForeignKey("accounts.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        Column("created_at", BigInteger, nullable=False),
        Column("expires_at", BigInteger, nullable=False),
    )
    Table(
        "staff_accounts",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("login_name", String(64), nullable=False, unique=True),
        Column("password_hash", String(255), nullable=False),
        Column("role", String(32), nullable=False),
        Column("organisation", String(64), nullable=True),
        Column("active", Boolean, nullable=False),
        Column("failed_login_count", Integer, nullable=False),
        Column("locked_until", BigInteger, nullable=True),
        Column("created_at", BigInteger, nullable=False),
    )
    Table(
        "staff_sessions",
        metadata,
        Column("token_hash", String(64), primary_key=True),
        Column(
            "staff_id",
            Integer,
            ForeignKey("staff_accounts.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        Column("created_at", BigInteger, nullable=False),
        Column("expires_at", BigInteger, nullable=False),
    )
    Table(
        "service_links",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column(
            "account_id",
            Integer,
            ForeignKey("accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        Column("service_code", String(64), nullable=False),
        Column("key_id", String(16), nullable=False),
        Column("nonce", LargeBinary, nullable=False),
        Column("service_id_ciphertext", LargeBinary, nullable=False),
        Column("created_at", BigInteger, nullable=False),
        UniqueConstraint("account_id", "service_code", name="uq_service_links_account_service"),
    )
    outbox = Table(
        "outbox",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("idempotency_key", String(128), nullable=False, unique=True),
        Column("kind", String(32), nullable=False),
        Column("recipient", String(254), nullable=False),
        Column("subject", String(255), nullable=False),
        Column("body", Text, nullable=False),
        Column("message_id", String(255), nullable=False),
        Column("state", String(16), nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("lease_owner", String(64), nullable=True),
        Column("lease_until", BigInteger, nullable=True),
        Column("next_attempt_at", BigInteger, nullable=False),
        Column("created_at", BigInteger, nullable=False),
        Column("sent_at", BigInteger, nullable=True),
        Column("last_error", Text, nullable=True),
    )
    Index("ix_outbox_state_next_attempt", outbox.c.state, outbox.c.next_attempt_at)
    audit = Table(
        "audit_log",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("at", BigInteger, nullable=False),
        Column("actor_kind", String(16), nullable=False),
        Column("actor", String(64), nullable=False),
        Column("action", String(64), nullable=False),
        Column("target", String(128), nullable=False),
        Column("transaction_hash", String(66), nullable=True),
        Column("detail", Text, nullable=False),
    )
    Index("ix_audit_log_at", audit.c.at)
    metadata.create_all(connection)


def _grants(connection: Connection) -> None:
    """Version 2: administrative point grants, one row per idempotency key."""
    metadata = MetaData()
    grants = Table(
        "grants",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("idempotency_key", String(128), nullable=False, unique=True),
        Column("reference", String(64), nullable=False),
        Column("municipality", String(5), nullable=False),
        Column("mykey_id", String(8), nullable=False),
        Column("points", Integer, nullable=False),
        Column("activity", String(32), nullable=False),
        Column("state", String(16), nullable=False),
        Column("transaction_hash", String(66), nullable=True),
        Column("granted_by", String(64), nullable=False),
        Column("batch_key", String(128), nullable=True),
        Column("created_at", BigInteger, nullable=False),
    )
    Index("ix_grants_mykey_id", grants.c.mykey_id)
    metadata.create_all(connection)


def _chain_side(connection: Connection) -> None:
    """Version 3: terminal nonces and actions, the chain-event index, services for lookups."""
    metadata = MetaData()
    # Referenced only: it exists since version 1, and create_all skips existing tables.
    Table("accounts", metadata, Column("id", Integer, primary_key=True))
    Table(
        "terminal_nonces",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("terminal", String(42), nullable=False),
        Column("nonce", String(32), nullable=False),
        Column("seen_at", BigInteger, nullable=False),
        UniqueConstraint("terminal", "nonce", name="uq_terminal_nonces"),
    )
    Table(
        "terminal_actions",
        metadata,
        Column("id", String(43), primary_key=True),
        Column("kind", String(16), nullable=False),
        Column("terminal", String(42), nullable=False),
        Column("business", BigInteger, nullable=False),
        Column("amount", BigInteger, nullable=False),
        Column("statement", LargeBinary, nullable=False),
        Column("expires_at", BigInteger, nullable=False),
        Column("state", String(16), nullable=False),
        Column("mykey_id", String(8), nullable=True),
        Column("municipality", String(5), nullable=True),
        Column("card_signature", LargeBinary, nullable=True),
        Column("certificate_fingerprint", String(64), nullable=True),
        Column("transaction_hash", String(66), nullable=True),
        Column("service_code", String(64), nullable=True),
        Column("created_at", BigInteger, nullable=False),
    )
    Table(
        "chain_cursor",
        metadata,
        Column("name", String(32), primary_key=True),
        Column("next_block", BigInteger, nullable=False),
        Column("updated_at", BigInteger, nullable=False),
    )
    events = Table(
        "chain_events",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("block_number", BigInteger, nullable=False),
        Column("log_index", Integer, nullable=False),
        Column("block_timestamp", BigInteger, nullable=False),
        Column("transaction_hash", String(66), nullable=False),
        Column("contract", String(32), nullable=False),
        Column("name", String(32), nullable=False),
        Column("mykey_id", String(8), nullable=True),
        Column("municipality", Integer, nullable=True),
        Column("counterparty", BigInteger, nullable=True),
        Column("amount", BigInteger, nullable=True),
        Column("period", Integer, nullable=True),
        Column("args_json", Text, nullable=False),
        UniqueConstraint("block_number", "log_index", name="uq_chain_events_position"),
    )
    Index("ix_chain_events_municipality_period", events.c.municipality, events.c.period)
    Table(
        "services",
        metadata,
        Column("service_code", String(64), primary_key=True),
        Column("business", BigInteger, nullable=False),
        Column("name", String(128), nullable=False),
        Column("created_at", BigInteger, nullable=False),
    )
    Table(
        "service_link_states",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        Column("service_code", String(64), nullable=False),
        Column("valid_until", BigInteger, nullable=True),
        Column("address_confirmed_at", BigInteger, nullable=False),
        UniqueConstraint("account_id", "service_code", name="uq_service_link_states"),
    )
    bindings = Table(
        "card_bindings",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("card_key_id", LargeBinary, nullable=False),
        Column("mykey_id", String(8), nullable=False),
        Column("bound_at", BigInteger, nullable=False),
        Column("method", String(16), nullable=False),
        Column("municipality_code", String(5), nullable=True),
        Column("retired_at", BigInteger, nullable=True),
    )
    Index("ix_card_bindings_card_key_id", bindings.c.card_key_id)
    Index("ix_card_bindings_mykey_id", bindings.c.mykey_id)
    Table(
        "address_changes",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        Column("changed_at", BigInteger, nullable=False),
        Column("reported_by", String(64), nullable=False),
    )
    Index("ix_chain_events_mykey_id", events.c.mykey_id)
    metadata.create_all(connection)


def _partners_coupons_address_feed(connection: Connection) -> None:
    """Version 4: partner member links, coupon batches and codes, address-change confirmations."""
    metadata = MetaData()
    # Referenced only: they exist since versions 1 and 3, and create_all skips existing tables.
    Table("accounts", metadata, Column("id", Integer, primary_key=True))
    Table("address_changes", metadata, Column("id", Integer, primary_key=True))
    Table(
        "partner_links",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        Column("partner", BigInteger, nullable=False),
        Column("member_number_hash", String(64), nullable=False),
        Column("key_id", String(16), nullable=False),
        Column("nonce", LargeBinary, nullable=False),
        Column("member_number_ciphertext", LargeBinary, nullable=False),
        Column("consented_at", BigInteger, nullable=False),
        UniqueConstraint("account_id", "partner", name="uq_partner_links_account_partner"),
        UniqueConstraint("partner", "member_number_hash", name="uq_partner_links_member"),
    )
    Table(
        "coupon_batches",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("partner", BigInteger, nullable=False),
        Column("partner_units", BigInteger, nullable=False),
        Column("expires_at", BigInteger, nullable=False),
        Column("count", Integer, nullable=False),
        Column("issued_by", String(64), nullable=False),
        Column("created_at", BigInteger, nullable=False),
    )
    coupons = Table(
        "coupons",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("batch_id", ForeignKey("coupon_batches.id", ondelete="CASCADE"), nullable=False),
        Column("code_hash", String(64), nullable=False, unique=True),
        Column("state", String(16), nullable=False),
        Column("account_id", ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True),
        Column("claimed_at", BigInteger, nullable=True),
        Column("reserve_id", BigInteger, nullable=True),
        Column("transaction_hash", String(66), nullable=True),
    )
    Index("ix_coupons_batch_state", coupons.c.batch_id, coupons.c.state)
    Table(
        "coupon_attempts",
        metadata,
        Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
        Column("failed_count", Integer, nullable=False),
        Column("locked_until", BigInteger, nullable=True),
    )
    Table(
        "address_change_confirmations",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column(
            "address_change_id",
            ForeignKey("address_changes.id", ondelete="CASCADE"),
            nullable=False,
        ),
        Column("service_code", String(64), nullable=False),
        Column("confirmed_at", BigInteger, nullable=False),
        Column("confirmed_by", String(64), nullable=False),
        UniqueConstraint(
            "address_change_id", "service_code", name="uq_address_change_confirmations"
        ),
    )
    metadata.create_all(connection)
    # When the municipality reported the change (the feed's `since`); rows before v4 have none.
    connection.execute(text("ALTER TABLE address_changes ADD COLUMN reported_at BIGINT"))


def _one_active_binding(connection: Connection) -> None:
    """Version 5: at most one active card binding per card and per MyKey ID, kept by the database.

    Partial unique indexes (SQLite and PostgreSQL both have them): retired rows stay for audit.
    """
    for name, column in (
        ("uq_card_bindings_active_card", "card_key_id"),
        ("uq_card_bindings_active_mykey", "mykey_id"),
    ):
        connection.execute(
            text(f"CREATE UNIQUE INDEX {name} ON card_bindings ({column}) WHERE retired_at IS NULL")
        )


def _keeper_leases(connection: Connection) -> None:
    """Version 6: keepers' leases and last runs, and how far each account's expiry was swept.

    `keeper_leases`: one row per keeper; whoever holds an unexpired lease is the only process
    running that keeper (taken with a compare-and-set UPDATE, atomic on SQLite and PostgreSQL).
    `expiry_sweeps`: per (MyKey ID, municipality, account) the block time of the last
    `sweepExpired` the keeper saw final, so spent or merged lots are not swept again and again.
    """
    metadata = MetaData()
    Table(
        "keeper_leases",
        metadata,
        Column("name", String(32), primary_key=True),
        Column("owner", String(128), nullable=True),
        Column("expires_at", BigInteger, nullable=False),
        Column("last_started_at", BigInteger, nullable=True),
        Column("last_finished_at", BigInteger, nullable=True),
        Column("last_report_json", Text, nullable=True),
        Column("last_error", Text, nullable=True),
        Column("next_due_at", BigInteger, nullable=True),
    )
    Table(
        "expiry_sweeps",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("mykey_id", String(8), nullable=False),
        Column("municipality", Integer, nullable=False),
        Column("account", BigInteger, nullable=False),
        Column("swept_through", BigInteger, nullable=False),
        UniqueConstraint("mykey_id", "municipality", "account", name="uq_expiry_sweeps_account"),
    )
    metadata.create_all(connection)


def _terminal_signed_actions(connection: Connection) -> None:
    """Version 7: a terminal action may be signed by the terminal itself (option B).

    `signing` is "terminal" for such an action (null: the API signs, as before version 7);
    `prepared_transaction` keeps the unsigned redeem transaction handed to the terminal (JSON),
    so the relayed one can be checked against it after a restart too.
    """
    connection.execute(text("ALTER TABLE terminal_actions ADD COLUMN signing VARCHAR(16)"))
    connection.execute(text("ALTER TABLE terminal_actions ADD COLUMN prepared_transaction TEXT"))


def _sender_nonces(connection: Connection) -> None:
    """Version 8: the next nonce of each address the API signs for, shared by its processes.

    `sender_nonces`: one row per sending address, locked (FOR UPDATE on PostgreSQL; SQLite
    serialises writers) only while a nonce is taken. `sender_nonce_gaps`: nonces taken by a send
    that never reached the node after a later nonce had been handed out; the next send re-uses
    the lowest, so the node's queue is never left waiting behind a hole.
    """
    metadata = MetaData()
    Table(
        "sender_nonces",
        metadata,
        Column("address", String(42), primary_key=True),
        Column("next_nonce", BigInteger, nullable=False),
        Column("updated_at", BigInteger, nullable=False),
    )
    Table(
        "sender_nonce_gaps",
        metadata,
        Column("address", String(42), primary_key=True),
        Column("nonce", BigInteger, primary_key=True, autoincrement=False),
    )
    metadata.create_all(connection)


def _nonce_holes(connection: Connection) -> None:
    """Version 9: when the node's pending count was last seen to change, per sending address.

    A process that dies between taking a nonce and sending it leaves a hole no `give_back`
    reports; `api.chain.nonces` hands the node's pending nonce out again once that count has
    stood still for a while although the store is ahead of it.
    """
    connection.execute(text("ALTER TABLE sender_nonces ADD COLUMN pending_seen BIGINT"))
    connection.execute(text("ALTER TABLE sender_nonces ADD COLUMN pending_since BIGINT"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _initial_schema),
    Migration(2, "grants", _grants),
    Migration(3, "chain side", _chain_side),
    Migration(4, "partner links, coupons, address-change feed", _partners_coupons_address_feed),
    Migration(5, "one active card binding per card and per MyKey ID", _one_active_binding),
    Migration(6, "keeper leases", _keeper_leases),
    Migration(7, "terminal-signed actions", _terminal_signed_actions),
    Migration(8, "sender nonces", _sender_nonces),
    Migration(9, "nonce holes", _nonce_holes),
)
"""The whole history, in version order. Append; never edit an applied one."""


def latest_version() -> int:
    """Return the version the newest migration brings the schema to."""
    return MIGRATIONS[-1].version


def current_version(engine: Engine) -> int:
    """Return the highest applied version, 0 for an empty database."""
    with engine.connect() as connection:
        if not engine.dialect.has_table(connection, SCHEMA_MIGRATIONS.name):
            return 0
        versions = connection.scalars(select(SCHEMA_MIGRATIONS.c.version)).all()
    return max(versions, default=0)


def migrate(engine: Engine, *, now: Callable[[], float] = time.time) -> list[int]:
    """Apply every pending migration, each in its own transaction; return the versions applied.

    Raises MigrationError when the database was migrated by a newer program (a version this
    program does not know), rather than running against a schema it cannot read.
    """
    with engine.begin() as connection:
        SCHEMA_MIGRATIONS.create(connection, checkfirst=True)
    applied_now: list[int] = []
    known = {migration.version for migration in MIGRATIONS}
    for migration in MIGRATIONS:
        with engine.begin() as connection:
            applied = set(connection.scalars(select(SCHEMA_MIGRATIONS.c.version)).all())
            unknown = applied - known
            if unknown:
                raise MigrationError(
                    f"database has schema versions {sorted(unknown)} this program does not know; "
                    "upgrade the program before using this database"
                )
            if migration.version in applied:
                continue
            migration.apply(connection)
            connection.execute(
                SCHEMA_MIGRATIONS.insert().values(
                    version=migration.version, name=migration.name, applied_at=int(now())
                )
            )
        applied_now.append(migration.version)
    return applied_now
