"""Staff accounts with roles, the audit record behind every write, and the operator health."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.notices.outbox import enqueue_notice
from api.notices.render import NoticeKind
from api.store.database import Store
from api.store.migrations import latest_version
from api.store.models import Account, AuditRecord
from tests.api.conftest import FakeClock, register_resident


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create_staff(client: TestClient, admin_token: str, login_name: str, role: str) -> int:
    response = client.post(
        "/staff/accounts",
        headers=auth(admin_token),
        json={
            "login_name": login_name,
            "password": "staff passphrase 1",
            "role": role,
            "organisation": "14130",
        },
    )
    assert response.status_code == 201, response.text
    staff_id: int = response.json()["id"]
    return staff_id


def staff_login(client: TestClient, login_name: str) -> str:
    response = client.post(
        "/staff/sessions", json={"login_name": login_name, "password": "staff passphrase 1"}
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def test_admin_creates_staff_and_every_write_is_audited(
    client: TestClient, admin_token: str, store: Store
) -> None:
    staff_id = create_staff(client, admin_token, "kawasaki.treasurer", "treasurer")
    listed = client.get("/staff/accounts", headers=auth(admin_token)).json()
    assert [item["login_name"] for item in listed] == ["platform.admin", "kawasaki.treasurer"]
    assert "password_hash" not in listed[1]
    deactivated = client.post(f"/staff/accounts/{staff_id}/deactivation", headers=auth(admin_token))
    assert deactivated.status_code == 200
    assert deactivated.json()["active"] is False
    records = client.get("/audit-records", headers=auth(admin_token)).json()
    assert [(item["actor"], item["action"], item["target"]) for item in records] == [
        ("platform.admin", "staff.deactivated", "kawasaki.treasurer"),
        ("platform.admin", "staff.created", "kawasaki.treasurer"),
        ("system", "staff.created", "platform.admin"),
    ]
    assert records[1]["detail"] == {"organisation": "14130", "role": "treasurer"}
    with store.sessions() as db:
        assert all("passphrase" not in record.detail for record in db.scalars(select(AuditRecord)))


def test_deactivated_staff_cannot_log_in_and_loses_sessions(
    client: TestClient, admin_token: str
) -> None:
    staff_id = create_staff(client, admin_token, "toshima.staff", "municipal-staff")
    token = staff_login(client, "toshima.staff")
    client.post(f"/staff/accounts/{staff_id}/deactivation", headers=auth(admin_token))
    assert client.get("/staff/accounts", headers=auth(token)).status_code == 401
    refused = client.post(
        "/staff/sessions", json={"login_name": "toshima.staff", "password": "staff passphrase 1"}
    )
    assert refused.status_code == 401


def test_roles_are_enforced(client: TestClient, admin_token: str) -> None:
    create_staff(client, admin_token, "toshima.staff", "municipal-staff")
    token = staff_login(client, "toshima.staff")
    forbidden = client.post(
        "/staff/accounts",
        headers=auth(token),
        json={"login_name": "sneaky", "password": "staff passphrase 1", "role": "platform-admin"},
    )
    assert forbidden.status_code == 403
    assert forbidden.json()["type"].endswith("forbidden")
    assert client.get("/audit-records", headers=auth(token)).status_code == 403
    assert client.get("/operator/health", headers=auth(token)).status_code == 403


def test_resident_tokens_are_not_staff_tokens(client: TestClient) -> None:
    register_resident(client, "TANAKA01")
    token = client.post("/sessions", json={"mykey_id": "TANAKA01", "password": "Abc12345"}).json()[
        "token"
    ]
    assert client.get("/staff/accounts", headers=auth(token)).status_code == 401


def test_staff_account_field_errors_and_duplicates(client: TestClient, admin_token: str) -> None:
    response = client.post(
        "/staff/accounts",
        headers=auth(admin_token),
        json={"login_name": "x", "password": "short", "role": "king"},
    )
    assert response.status_code == 422
    assert {error["code"] for error in response.json()["errors"]} == {
        "login-name-format",
        "staff-password-format",
        "role-unknown",
    }
    create_staff(client, admin_token, "kawasaki.staff", "municipal-staff")
    again = client.post(
        "/staff/accounts",
        headers=auth(admin_token),
        json={
            "login_name": "kawasaki.staff",
            "password": "staff passphrase 1",
            "role": "treasurer",
        },
    )
    assert again.status_code == 409


def test_staff_lock_out(client: TestClient, admin_token: str, clock: FakeClock) -> None:
    create_staff(client, admin_token, "kawasaki.staff", "municipal-staff")
    statuses = [
        client.post(
            "/staff/sessions", json={"login_name": "kawasaki.staff", "password": "wrong wrong"}
        ).status_code
        for _ in range(5)
    ]
    assert statuses == [401, 401, 401, 401, 423]
    assert (
        client.post(
            "/staff/sessions",
            json={"login_name": "kawasaki.staff", "password": "staff passphrase 1"},
        ).status_code
        == 423
    )
    clock.advance(30 * 60)
    staff_login(client, "kawasaki.staff")


def test_staff_logout(client: TestClient, admin_token: str) -> None:
    assert client.delete("/staff/sessions/current", headers=auth(admin_token)).status_code == 204
    assert client.get("/staff/accounts", headers=auth(admin_token)).status_code == 401


def test_operator_health(
    client: TestClient, admin_token: str, store: Store, clock: FakeClock
) -> None:
    create_staff(client, admin_token, "node.operator", "node-operator")
    token = staff_login(client, "node.operator")
    healthy = client.get("/operator/health", headers=auth(token))
    assert healthy.status_code == 200
    assert healthy.json()["status"] == "ok"
    assert healthy.json()["schema_version"] == healthy.json()["schema_latest"] == latest_version()
    register_resident(client, "TANAKA01")
    with store.sessions() as db:
        account = db.scalars(select(Account)).one()
        enqueue_notice(
            db=db,
            account=account,
            kind=NoticeKind.PASSWORD_CHANGED,
            idempotency_key="test:1",
            facts={"mykey_id": "TANAKA01"},
            now=clock.now(),
            mail_domain="mykey.test",
        )
        db.commit()
    clock.advance(16 * 60)
    degraded = client.get("/operator/health", headers=auth(token))
    assert degraded.status_code == 503
    assert degraded.json()["status"] == "degraded"
    assert degraded.json()["outbox_pending"] == 2
    assert "notice sender" in degraded.json()["problems"][0]
    assert client.get("/health").json() == {"status": "ok"}
