"""Partner account links without a ledger: consent, encryption at rest, one number per partner per
resident and one resident per number, unlinking, and finding the MyKey ID for a conversion
(on SQLite and PostgreSQL). Conversions by member number on a real node: tests/api_chain."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.errors import InvalidFields
from api.services.partner_links import (
    MemberNumberNotLinked,
    conversion_target,
    lookup_hash_key,
)
from api.settings import ApiSettings
from api.store.database import Store
from api.store.models import AuditRecord, PartnerLink
from tests.api.conftest import (
    FakeClock,
    FakeLedger,
    login,
    register_resident,
)
from tests.api.postgres_app import api_on_postgres

NUMBER = "M-0012345"


def _bearer(client: TestClient, mykey_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {login(client, mykey_id)}"}


def _link(
    client: TestClient, resident: dict[str, str], partner: int, number: str, consent: bool = True
) -> tuple[int, dict[str, object]]:
    response = client.post(
        "/me/partner-links",
        json={"partner": partner, "member_number": number, "consent": consent},
        headers=resident,
    )
    body: dict[str, object] = response.json()
    return response.status_code, body


@pytest.fixture
def tanaka(client: TestClient) -> dict[str, str]:
    register_resident(client, "TANAKA01", b"certificate-A")
    return _bearer(client, "TANAKA01")


def test_a_resident_links_with_consent_and_sees_the_number_kept_encrypted(
    client: TestClient,
    tanaka: dict[str, str],
    clock: FakeClock,
    store: Store,
    settings: ApiSettings,
) -> None:
    status, body = _link(client, tanaka, 7, NUMBER)

    assert (status, body) == (
        201,
        {"partner": 7, "member_number": NUMBER, "consented_at": clock.now()},
    )
    mine = client.get("/me/partner-links", headers=tanaka).json()
    assert mine == [{"partner": 7, "member_number": NUMBER, "consented_at": clock.now()}]
    with store.sessions() as db:
        row = db.scalars(select(PartnerLink)).one()
        actions = db.scalars(select(AuditRecord.action)).all()
    assert NUMBER.encode() not in row.member_number_ciphertext
    assert NUMBER not in row.member_number_hash
    assert "partner-link.linked" in actions
    stored = settings.database_url.removeprefix("sqlite:///")
    raw = open(stored, "rb").read() + open(stored + "-wal", "rb").read()  # noqa: SIM115
    assert NUMBER.encode() not in raw


def test_consent_is_required_and_a_malformed_number_refused(
    client: TestClient, tanaka: dict[str, str]
) -> None:
    status, body = _link(client, tanaka, 7, NUMBER, consent=False)
    assert status == 422
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("consent", "required")]  # type: ignore[attr-defined]
    status, body = _link(client, tanaka, 7, "with space")
    assert status == 422
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("member_number", "invalid")]  # type: ignore[attr-defined]
    assert client.get("/me/partner-links", headers=tanaka).json() == []
    assert client.get("/me/partner-links").status_code == 401


def test_one_number_per_partner_per_resident_and_one_resident_per_number(
    client: TestClient, tanaka: dict[str, str], store: Store, settings: ApiSettings
) -> None:
    register_resident(client, "SUZUKI02", b"certificate-B")
    suzuki = _bearer(client, "SUZUKI02")
    assert _link(client, tanaka, 7, NUMBER)[0] == 201
    assert _link(client, tanaka, 7, "M-0099999")[0] == 201  # replaces: a new member card
    assert _link(client, tanaka, 8, NUMBER)[0] == 201  # another partner's numbering
    assert [
        (r["partner"], r["member_number"])
        for r in client.get("/me/partner-links", headers=tanaka).json()
    ] == [(7, "M-0099999"), (8, NUMBER)]

    status, body = _link(client, suzuki, 8, NUMBER)
    assert (status, body["type"]) == (409, "urn:mykey-ledger:problem:member-number-taken")
    assert _link(client, suzuki, 7, NUMBER)[0] == 201  # freed when TANAKA01 replaced it

    key = lookup_hash_key(settings.service_id_key_file)
    with store.sessions() as db:
        found = {
            partner: conversion_target(
                db=db, hash_key=key, partner=partner, mykey_id=None, member_number=NUMBER
            )
            for partner in (7, 8)
        }
    assert found == {7: "SUZUKI02", 8: "TANAKA01"}


def test_unlinking_stops_conversions_by_that_number(
    client: TestClient, tanaka: dict[str, str], store: Store, settings: ApiSettings
) -> None:
    _link(client, tanaka, 7, NUMBER)

    assert client.delete("/me/partner-links/7", headers=tanaka).status_code == 204
    again = client.delete("/me/partner-links/7", headers=tanaka)
    assert again.status_code == 404
    with store.sessions() as db, pytest.raises(MemberNumberNotLinked):
        conversion_target(
            db=db,
            hash_key=lookup_hash_key(settings.service_id_key_file),
            partner=7,
            mykey_id=None,
            member_number=NUMBER,
        )


@pytest.mark.parametrize(
    ("mykey_id", "member_number", "code"),
    [(None, None, "required"), ("TANAKA01", NUMBER, "one-of-mykey-id-or-member-number")],
)
def test_a_conversion_names_exactly_one_of_mykey_id_and_member_number(
    store: Store, settings: ApiSettings, mykey_id: str | None, member_number: str | None, code: str
) -> None:
    with store.sessions() as db, pytest.raises(InvalidFields) as raised:
        conversion_target(
            db=db,
            hash_key=lookup_hash_key(settings.service_id_key_file),
            partner=7,
            mykey_id=mykey_id,
            member_number=member_number,
        )
    assert [(e.field, e.code) for e in raised.value.errors] == [
        ("mykey_id", code),
        ("member_number", code),
    ]
    with store.sessions() as db:
        direct = conversion_target(
            db=db, hash_key=b"k" * 32, partner=7, mykey_id="TANAKA01", member_number=None
        )
    assert direct == "TANAKA01"


@pytest.mark.realstack
def test_links_and_their_uniqueness_on_postgres(
    settings: ApiSettings, clock: FakeClock, ledger: FakeLedger
) -> None:
    with api_on_postgres(settings, clock, ledger) as pg:
        register_resident(pg.client, "TANAKA01", b"certificate-A")
        register_resident(pg.client, "SUZUKI02", b"certificate-B")
        tanaka, suzuki = _bearer(pg.client, "TANAKA01"), _bearer(pg.client, "SUZUKI02")
        assert _link(pg.client, tanaka, 7, NUMBER)[0] == 201
        assert _link(pg.client, suzuki, 7, NUMBER)[0] == 409
        assert (
            pg.client.get("/me/partner-links", headers=tanaka).json()[0]["member_number"] == NUMBER
        )
        with pg.store.sessions() as db:
            assert (
                conversion_target(
                    db=db,
                    hash_key=lookup_hash_key(pg.settings.service_id_key_file),
                    partner=7,
                    mykey_id=None,
                    member_number=NUMBER,
                )
                == "TANAKA01"
            )
        assert pg.client.delete("/me/partner-links/7", headers=tanaka).status_code == 204
