"""Engine and session factory for the private store, SQLite or PostgreSQL by URL.

SQLite is set up for several processes at once (the API and the notice sender share one file):
WAL journal, a busy timeout instead of immediate "database is locked" errors, and foreign keys
on. Nothing connects at import time; `open_store` is called by `create_app` and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from api.store.migrations import migrate


@dataclass(frozen=True)
class Store:
    """An open private store: its engine and a factory of ORM sessions."""

    engine: Engine
    sessions: sessionmaker[Session]

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()


def _configure_sqlite(dbapi_connection: Any, _record: object) -> None:
    """Per-connection SQLite settings (pragmas do not persist across connections)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_store_engine(database_url: str) -> Engine:
    """Return an engine for `database_url`; for a SQLite file, create its folder first."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True)


def open_store(database_url: str, *, run_migrations: bool = True) -> Store:
    """Open (and by default migrate) the store at `database_url`."""
    engine = create_store_engine(database_url)
    if run_migrations:
        migrate(engine)
    return Store(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))
