"""The private store's migrations: applied once, in order, and matching the mapped models."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from api.store.database import create_store_engine
from api.store.migrations import (
    SCHEMA_MIGRATIONS,
    MigrationError,
    current_version,
    latest_version,
    migrate,
)
from api.store.models import Base


def test_migrations_apply_once(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store' / 'api.sqlite'}")
    assert current_version(engine) == 0
    assert migrate(engine) == list(range(1, latest_version() + 1))
    assert latest_version() == 9
    assert migrate(engine) == []
    assert current_version(engine) == latest_version()
    engine.dispose()


def test_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'api.sqlite'}")
    migrate(engine)
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) == set(Base.metadata.tables) | {"schema_migrations"}
    for name, table in Base.metadata.tables.items():
        migrated = {column["name"]: column for column in inspector.get_columns(name)}
        assert set(migrated) == {column.name for column in table.columns}, name
        for column in table.columns:
            assert migrated[column.name]["nullable"] == column.nullable, (name, column.name)
    engine.dispose()


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'api.sqlite'}")
    migrate(engine)
    with engine.begin() as connection:
        connection.execute(
            SCHEMA_MIGRATIONS.insert().values(version=99, name="from the future", applied_at=0)
        )
    with pytest.raises(MigrationError, match="99"):
        migrate(engine)
    engine.dispose()
