"""My Page login (MyKey ID + password), lock-out, session expiry, logout, password change."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.store.database import Store
from api.store.models import AuditRecord, OutboxMessage
from tests.api.conftest import FakeClock, login, register_resident


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_login_and_read_own_account(client: TestClient) -> None:
    register_resident(client, "TANAKA01")
    token = login(client)
    me = client.get("/me", headers=auth(token))
    assert me.status_code == 200
    body = me.json()
    assert body["mykey_id"] == "TANAKA01"
    assert body["home_municipality"] == "14130"
    assert body["notices"]["password_changed"] is True
    assert "password_hash" not in body


def test_unknown_id_and_wrong_password_look_the_same(client: TestClient) -> None:
    register_resident(client, "TANAKA01")
    wrong = client.post("/sessions", json={"mykey_id": "TANAKA01", "password": "Wrong123"})
    unknown = client.post("/sessions", json={"mykey_id": "NOBODY01", "password": "Wrong123"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.json()["type"] == unknown.json()["type"]


def test_five_wrong_passwords_lock_the_account_for_a_while(
    client: TestClient, clock: FakeClock, store: Store
) -> None:
    register_resident(client, "TANAKA01")
    for attempt in range(4):
        response = client.post("/sessions", json={"mykey_id": "TANAKA01", "password": "Wrong123"})
        assert response.status_code == 401, attempt
    fifth = client.post("/sessions", json={"mykey_id": "TANAKA01", "password": "Wrong123"})
    assert fifth.status_code == 423
    assert fifth.json()["type"].endswith("account-locked")
    assert int(fifth.headers["retry-after"]) == 30 * 60
    right_but_locked = client.post(
        "/sessions", json={"mykey_id": "TANAKA01", "password": "Abc12345"}
    )
    assert right_but_locked.status_code == 423
    clock.advance(30 * 60 - 1)
    assert (
        client.post("/sessions", json={"mykey_id": "TANAKA01", "password": "Abc12345"}).status_code
        == 423
    )
    clock.advance(1)
    assert login(client)
    with store.sessions() as db:
        locked = db.scalars(
            select(AuditRecord).where(AuditRecord.action == "resident.locked")
        ).all()
        assert len(locked) == 1


def test_a_correct_password_resets_the_failure_count(client: TestClient) -> None:
    register_resident(client, "TANAKA01")
    for _ in range(4):
        client.post("/sessions", json={"mykey_id": "TANAKA01", "password": "Wrong123"})
    login(client)
    for _ in range(4):
        response = client.post("/sessions", json={"mykey_id": "TANAKA01", "password": "Wrong123"})
        assert response.status_code == 401


def test_sessions_expire(client: TestClient, clock: FakeClock) -> None:
    register_resident(client, "TANAKA01")
    token = login(client)
    clock.advance(30 * 60 - 1)
    assert client.get("/me", headers=auth(token)).status_code == 200
    clock.advance(1)
    expired = client.get("/me", headers=auth(token))
    assert expired.status_code == 401
    assert expired.headers["content-type"] == "application/problem+json"


def test_logout_ends_the_session(client: TestClient) -> None:
    register_resident(client, "TANAKA01")
    token = login(client)
    assert client.delete("/sessions/current", headers=auth(token)).status_code == 204
    assert client.get("/me", headers=auth(token)).status_code == 401


def test_no_token_and_a_made_up_token_are_refused(client: TestClient) -> None:
    missing = client.get("/me")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert client.get("/me", headers=auth("made-up")).status_code == 401


def test_password_change(client: TestClient, store: Store) -> None:
    register_resident(client, "TANAKA01")
    token = login(client)
    other = login(client)
    response = client.put(
        "/me/password",
        headers=auth(token),
        json={
            "current_password": "Abc12345",
            "new_password": "Xyz98765",
            "new_password_confirmation": "Xyz98765",
        },
    )
    assert response.status_code == 204
    assert client.get("/me", headers=auth(token)).status_code == 200
    assert client.get("/me", headers=auth(other)).status_code == 401
    assert (
        client.post("/sessions", json={"mykey_id": "TANAKA01", "password": "Abc12345"}).status_code
        == 401
    )
    login(client, password="Xyz98765")
    with store.sessions() as db:
        kinds = db.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)).all()
        assert kinds == ["mykey-id-registered", "password-changed"]
        assert db.scalars(
            select(AuditRecord).where(AuditRecord.action == "resident.password-changed")
        ).one()


def test_password_change_refusals(client: TestClient) -> None:
    register_resident(client, "TANAKA01")
    token = login(client)

    def change(current: str, new: str, confirmation: str) -> list[str]:
        response = client.put(
            "/me/password",
            headers=auth(token),
            json={
                "current_password": current,
                "new_password": new,
                "new_password_confirmation": confirmation,
            },
        )
        assert response.status_code == 422
        return [error["code"] for error in response.json()["errors"]]

    assert change("Abc12345", "short", "short") == ["password-format"]
    assert change("Abc12345", "Xyz98765", "Xyz98766") == ["password-confirmation-mismatch"]
    assert change("Abc12345", "Abc12345", "Abc12345") == ["password-unchanged"]
    assert change("Wrong123", "Xyz98765", "Xyz98765") == ["password-incorrect"]


def test_english_on_request(client: TestClient) -> None:
    response = client.post(
        "/sessions",
        json={"mykey_id": "NOBODY01", "password": "Wrong123"},
        headers={"Accept-Language": "en-US,en;q=0.9,ja;q=0.5"},
    )
    assert response.json()["detail"] == "The MyKey ID or the password is not correct."
    assert response.headers["content-language"] == "en"
    japanese = client.post("/sessions", json={"mykey_id": "NOBODY01", "password": "Wrong123"})
    assert japanese.json()["detail"] == "マイキーIDまたはパスワードが正しくありません。"
    assert japanese.headers["content-language"] == "ja"


def test_notice_choices_can_be_changed(client: TestClient, store: Store) -> None:
    register_resident(client, "TANAKA01")
    token = login(client)
    choices = {
        "points_granted": False,
        "points_expired": True,
        "password_changed": False,
        "mykey_id_changes": True,
    }
    response = client.put("/me/notices", headers=auth(token), json=choices)
    assert response.status_code == 200
    assert response.json()["notices"] == choices
    assert client.get("/me", headers=auth(token)).json()["notices"] == choices
    client.put(
        "/me/password",
        headers=auth(token),
        json={
            "current_password": "Abc12345",
            "new_password": "Xyz98765",
            "new_password_confirmation": "Xyz98765",
        },
    )
    with store.sessions() as db:
        kinds = db.scalars(select(OutboxMessage.kind)).all()
        assert kinds == ["mykey-id-registered"]  # no password-changed notice: not chosen
        assert db.scalars(
            select(AuditRecord).where(AuditRecord.action == "resident.notices-changed")
        ).one()
