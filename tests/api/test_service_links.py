"""Service IDs are encrypted at rest (AES-GCM, key in a file) and open only where they belong."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select, update

from api.service_id_cipher import (
    ServiceIdCipher,
    ServiceIdDecryptionFailed,
    load_or_create_key,
)
from api.services.audit import SYSTEM_ACTOR
from api.services.service_links import link_service, lookup_service_id
from api.settings import ApiSettings, SettingsError
from api.store.database import Store
from api.store.models import Account, AuditRecord, ServiceLink
from tests.api.conftest import register_resident


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "service-id.key"
    key = load_or_create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key
    os.chmod(path, 0o644)
    with pytest.raises(SettingsError, match="chmod 600"):
        load_or_create_key(path)


def test_service_id_is_never_stored_in_clear(
    client: object, store: Store, settings: ApiSettings
) -> None:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    register_resident(client, "TANAKA01", certificate=b"card-1")
    register_resident(client, "SUZUKI02", certificate=b"card-2")
    cipher = ServiceIdCipher(load_or_create_key(settings.service_id_key_file))
    with store.sessions() as db:
        tanaka, suzuki = db.scalars(select(Account).order_by(Account.id)).all()
        link_service(
            db=db,
            cipher=cipher,
            actor=SYSTEM_ACTOR,
            account=tanaka,
            service_code="kawasaki-library",
            service_id="LIB-0042-7781",
            now=0,
        )
        assert (
            lookup_service_id(db=db, cipher=cipher, account=tanaka, service_code="kawasaki-library")
            == "LIB-0042-7781"
        )
        assert (
            lookup_service_id(db=db, cipher=cipher, account=tanaka, service_code="museum") is None
        )
        assert (
            lookup_service_id(db=db, cipher=cipher, account=suzuki, service_code="kawasaki-library")
            is None
        )
        audit = db.scalars(
            select(AuditRecord).where(AuditRecord.action == "service-link.linked")
        ).one()
        assert "LIB-0042" not in audit.detail + audit.target

        # a row moved to another account does not open there
        db.execute(update(ServiceLink).values(account_id=suzuki.id))
        db.commit()
        with pytest.raises(ServiceIdDecryptionFailed):
            lookup_service_id(db=db, cipher=cipher, account=suzuki, service_code="kawasaki-library")
    database_file = Path(settings.database_url.removeprefix("sqlite:///"))
    store.close()
    raw = b"".join(
        path.read_bytes()
        for path in database_file.parent.iterdir()
        if path.name.startswith("api.sqlite")
    )
    assert b"LIB-0042-7781" not in raw


def test_another_key_cannot_open_it() -> None:
    sealed = ServiceIdCipher(b"\x01" * 32).seal(
        account_id=1, service_code="museum", service_id="M-1"
    )
    with pytest.raises(ServiceIdDecryptionFailed, match="sealed with key"):
        ServiceIdCipher(b"\x02" * 32).open(account_id=1, service_code="museum", sealed=sealed)
    assert (
        ServiceIdCipher(b"\x01" * 32).open(account_id=1, service_code="museum", sealed=sealed)
        == "M-1"
    )


def test_link_refuses_malformed_input(store: Store, settings: ApiSettings, client: object) -> None:
    from fastapi.testclient import TestClient

    from api.errors import InvalidFields

    assert isinstance(client, TestClient)
    register_resident(client, "TANAKA01")
    cipher = ServiceIdCipher(load_or_create_key(settings.service_id_key_file))
    with store.sessions() as db:
        account = db.scalars(select(Account)).one()
        with pytest.raises(InvalidFields) as caught:
            link_service(
                db=db,
                cipher=cipher,
                actor=SYSTEM_ACTOR,
                account=account,
                service_code="Bad Code",
                service_id="line\nbreak",
                now=0,
            )
        assert [error.field for error in caught.value.errors] == ["service_code", "service_id"]
