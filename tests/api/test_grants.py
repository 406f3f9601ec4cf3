"""Administrative point grants by municipal staff: one resident, a CSV batch, each line reported."""

from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.store.database import Store
from api.store.models import AuditRecord, Grant, OutboxMessage
from tests.api.conftest import FakePointsLedger, register_resident
from tests.api.test_staff import auth, staff_login


def make_staff(
    client: TestClient, admin_token: str, login_name: str, role: str, organisation: str | None
) -> str:
    response = client.post(
        "/staff/accounts",
        headers=auth(admin_token),
        json={
            "login_name": login_name,
            "password": "staff passphrase 1",
            "role": role,
            "organisation": organisation,
        },
    )
    assert response.status_code == 201, response.text
    return staff_login(client, login_name)


def kawasaki_staff(client: TestClient, admin_token: str) -> str:
    return make_staff(client, admin_token, "kawasaki.staff", "municipal-staff", "14130")


GRANT = {"mykey_id": "TANAKA01", "points": 200, "activity": "volunteering"}


def test_staff_grants_points_to_one_resident(
    client: TestClient, admin_token: str, points_ledger: FakePointsLedger, store: Store
) -> None:
    register_resident(client, "TANAKA01")
    token = kawasaki_staff(client, admin_token)
    headers = {**auth(token), "Idempotency-Key": "volunteer-day-42"}
    response = client.post("/grants", headers=headers, json=GRANT)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["municipality"], body["points"], body["outcome"]) == ("14130", 200, "granted")
    expected_reference = hashlib.sha256(b"14130:single:volunteer-day-42").digest()
    assert points_ledger.grants == [("TANAKA01", "14130", 200, "volunteering", expected_reference)]
    with store.sessions() as db:
        audit = db.scalars(select(AuditRecord).where(AuditRecord.action == "points.granted")).one()
        assert (audit.actor, audit.target, audit.transaction_hash) == (
            "kawasaki.staff",
            "TANAKA01",
            body["transaction_hash"],
        )
        notice = db.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "points-granted")
        ).one()
        assert "川崎市" in notice.body and "200" in notice.body


def test_the_same_key_grants_once(
    client: TestClient, admin_token: str, points_ledger: FakePointsLedger
) -> None:
    register_resident(client, "TANAKA01")
    headers = {**auth(kawasaki_staff(client, admin_token)), "Idempotency-Key": "k-1"}
    first = client.post("/grants", headers=headers, json=GRANT)
    second = client.post("/grants", headers=headers, json=GRANT)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["outcome"] == "already-granted"
    assert second.json()["transaction_hash"] == first.json()["transaction_hash"]
    assert len(points_ledger.grants) == 1
    different = client.post("/grants", headers=headers, json={**GRANT, "points": 500})
    assert different.status_code == 422
    assert different.json()["errors"][0]["code"] == "idempotency-key-reused"


def test_only_municipal_staff_of_a_participating_city_grant(
    client: TestClient, admin_token: str
) -> None:
    treasurer = make_staff(client, admin_token, "kawasaki.treasurer", "treasurer", "14130")
    assert client.post("/grants", headers=auth(treasurer), json=GRANT).status_code == 403
    nowhere = make_staff(client, admin_token, "nowhere.staff", "municipal-staff", "99999")
    refused = client.post("/grants", headers=auth(nowhere), json=GRANT)
    assert refused.status_code == 403
    assert client.post("/grants", json=GRANT).status_code == 401


def test_grant_field_errors(client: TestClient, admin_token: str) -> None:
    token = kawasaki_staff(client, admin_token)
    response = client.post(
        "/grants", headers=auth(token), json={"mykey_id": "tanaka", "points": 0, "activity": "x"}
    )
    assert response.status_code == 422
    assert {error["field"]: error["code"] for error in response.json()["errors"]} == {
        "points": "points-range",
    }
    response = client.post(
        "/grants", headers=auth(token), json={"mykey_id": "tanaka", "points": 5, "activity": "x"}
    )
    assert {error["field"]: error["code"] for error in response.json()["errors"]} == {
        "mykey_id": "mykey-id-format",
        "activity": "activity-unknown",
    }


def test_ledger_refusal_and_outage_leave_no_grant_and_allow_a_retry(
    client: TestClient, admin_token: str, points_ledger: FakePointsLedger, store: Store
) -> None:
    headers = {**auth(kawasaki_staff(client, admin_token)), "Idempotency-Key": "k-2"}
    refused = client.post("/grants", headers=headers, json=GRANT)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("grant-refused")
    register_resident(client, "TANAKA01")
    points_ledger.down = True
    down = client.post("/grants", headers=headers, json=GRANT)
    assert down.status_code == 503
    with store.sessions() as db:
        assert db.scalars(select(Grant)).all() == []
    points_ledger.down = False
    assert client.post("/grants", headers=headers, json=GRANT).status_code == 201


def test_an_unconfirmed_grant_stays_in_doubt(
    client: TestClient, admin_token: str, points_ledger: FakePointsLedger
) -> None:
    register_resident(client, "TANAKA01")
    headers = {**auth(kawasaki_staff(client, admin_token)), "Idempotency-Key": "k-3"}
    points_ledger.in_doubt = True
    first = client.post("/grants", headers=headers, json=GRANT)
    assert first.status_code == 409
    points_ledger.in_doubt = False
    again = client.post("/grants", headers=headers, json=GRANT)
    assert again.status_code == 409  # not re-sent: it may already be on the ledger
    assert points_ledger.grants == []


CSV = (
    "mykey_id,points,activity\n"
    "TANAKA01,200,volunteering\n"
    "tanaka02,200,volunteering\n"
    "\n"
    "NOBODY99,100,event-participation\n"
    "SUZUKI02,500\n"
    "SUZUKI02,500,health-walk-rally\n"
)


def test_a_csv_batch_reports_every_line(
    client: TestClient, admin_token: str, points_ledger: FakePointsLedger
) -> None:
    register_resident(client, "TANAKA01", certificate=b"card-1")
    register_resident(client, "SUZUKI02", certificate=b"card-2")
    token = kawasaki_staff(client, admin_token)
    headers = {**auth(token), "Content-Type": "text/csv"}
    response = client.post("/grants/batches", headers=headers, content=CSV.encode())
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["granted"], report["refused"], report["points_granted"]) == (2, 3, 700)
    lines = {line["line"]: line for line in report["lines"]}
    assert lines[2]["outcome"] == "granted" and lines[2]["transaction_hash"]
    assert lines[3]["errors"][0]["code"] == "mykey-id-format"
    assert lines[5]["outcome"] == "refused" and lines[5]["reason"]
    assert lines[6]["errors"][0]["code"] == "csv-columns"
    assert lines[7]["outcome"] == "granted"
    assert len(points_ledger.grants) == 2

    again = client.post("/grants/batches", headers=headers, content=CSV.encode()).json()
    assert (again["granted"], again["already_granted"]) == (0, 2)
    assert len(points_ledger.grants) == 2


def test_batch_needs_the_header_and_reads_shift_jis(client: TestClient, admin_token: str) -> None:
    token = kawasaki_staff(client, admin_token)
    headers = {**auth(token), "Content-Type": "text/csv"}
    no_header = client.post("/grants/batches", headers=headers, content=b"TANAKA01,200,other\n")
    assert no_header.status_code == 422
    assert no_header.json()["errors"][0]["code"] == "csv-header"
    shift_jis = "mykey_id,points,activity\n田中一郎,200,other\n".encode("cp932")
    report = client.post("/grants/batches", headers=headers, content=shift_jis).json()
    assert report["lines"][0]["mykey_id"] == "田中一郎"
    assert report["lines"][0]["errors"][0]["code"] == "mykey-id-format"


def test_a_batch_with_bare_carriage_returns_or_broken_quotes_gets_a_field_error(
    client: TestClient, admin_token: str
) -> None:
    headers = {**auth(kawasaki_staff(client, admin_token)), "Content-Type": "text/csv"}
    # Old Mac line ends are line ends: the file is read, and its one line reported.
    old_mac = b"mykey_id,points,activity\rTANAKA01,200,dancing\r"
    report = client.post("/grants/batches", headers=headers, content=old_mac)
    assert report.status_code == 200, report.text
    assert [line["mykey_id"] for line in report.json()["lines"]] == ["TANAKA01"]
    # A lone carriage return found by the schema fuzzer once answered 500.
    assert client.post("/grants/batches", headers=headers, content=b"\r0").status_code == 422
    # An unclosed quote runs to the end of the file: one cell, reported on its line.
    broken = b'mykey_id,points,activity\n"TANAKA01,200,volunteering\n'
    lines = client.post("/grants/batches", headers=headers, content=broken).json()["lines"]
    assert [line["errors"][0]["code"] for line in lines] == ["csv-columns"]


def test_a_batch_interrupted_by_an_outage_completes_on_reupload(
    client: TestClient, admin_token: str, points_ledger: FakePointsLedger
) -> None:
    register_resident(client, "TANAKA01", certificate=b"card-1")
    register_resident(client, "SUZUKI02", certificate=b"card-2")
    headers = {**auth(kawasaki_staff(client, admin_token)), "Content-Type": "text/csv"}
    body = b"mykey_id,points,activity\nTANAKA01,200,volunteering\nSUZUKI02,200,volunteering\n"
    original = points_ledger.grant_points
    calls = 0

    def fail_on_second(**arguments: object) -> object:
        nonlocal calls
        calls += 1
        points_ledger.down = calls == 2
        return original(**arguments)  # type: ignore[arg-type]

    points_ledger.grant_points = fail_on_second  # type: ignore[assignment,method-assign]
    assert client.post("/grants/batches", headers=headers, content=body).status_code == 503
    points_ledger.down = False
    report = client.post("/grants/batches", headers=headers, content=body).json()
    assert (report["already_granted"], report["granted"]) == (1, 1)
    assert [grant[0] for grant in points_ledger.grants] == ["TANAKA01", "SUZUKI02"]
