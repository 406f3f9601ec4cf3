"""MyKey ID registration as deck screen 16 specifies, through the HTTP API with fake ports.

The card challenge is a registration statement (docs/card-helper.md): its exact format, its origin
taken from the Origin header or the body (equal when both are sent, "-" when neither), and the
card's signature checked over exactly those bytes.
"""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.identifiers import MykeyId
from api.store.database import Store
from api.store.models import Account, AuditRecord, CardChallenge, OutboxMessage
from card_bridge.browser_helper.registration_statement import (
    NO_ORIGIN,
    REGISTRATION_HEADER,
    parse_registration_statement,
)
from tests.api.conftest import (
    FakeClock,
    FakeLedger,
    SequenceGenerator,
    card_signature,
    completion_form,
    open_registration,
    register_resident,
)


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate(client: TestClient, registration_id: str) -> dict[str, object]:
    response = client.post(f"/registrations/{registration_id}/generated-candidates")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def check(
    client: TestClient, registration_id: str, candidate: str
) -> tuple[int, dict[str, object]]:
    response = client.post(
        f"/registrations/{registration_id}/candidate-checks", json={"candidate": candidate}
    )
    return response.status_code, response.json()


def test_the_third_generated_candidate_becomes_the_mykey_id(
    client: TestClient, generator: SequenceGenerator, ledger: FakeLedger, store: Store
) -> None:
    generator.values = ["FIRST111", "SECOND22", "THIRD333"]
    registration_id = open_registration(client)
    first, second, third = (generate(client, registration_id) for _ in range(3))
    assert (first["candidate"], first["generations_left"], first["candidate_fixed"]) == (
        "FIRST111",
        2,
        False,
    )
    assert second["candidate"] == "SECOND22"
    assert (third["candidate"], third["generations_left"], third["candidate_fixed"]) == (
        "THIRD333",
        0,
        True,
    )

    fourth = client.post(f"/registrations/{registration_id}/generated-candidates")
    assert fourth.status_code == 409
    assert fourth.json()["type"].endswith("generation-limit-reached")
    assert fourth.json()["candidate"] == "THIRD333"

    own = client.post(
        f"/registrations/{registration_id}/candidate-checks", json={"candidate": "MYOWN123"}
    )
    assert own.status_code == 409
    assert own.json()["type"].endswith("candidate-fixed")

    done = client.post(f"/registrations/{registration_id}/completion", json=completion_form())
    assert done.status_code == 201, done.text
    assert done.json()["mykey_id"] == "THIRD333"
    assert ledger.registered == [("THIRD333", "14130")]
    with store.sessions() as db:
        account = db.scalars(select(Account)).one()
        assert account.mykey_id == "THIRD333"
        assert account.password_hash.startswith("$argon2id$")
        assert "Abc12345" not in account.password_hash


def test_generated_candidates_skip_taken_ids(
    client: TestClient, generator: SequenceGenerator, ledger: FakeLedger
) -> None:
    ledger.taken.add("TAKEN001")
    generator.values = ["TAKEN001", "FREE0001"]
    registration_id = open_registration(client)
    assert generate(client, registration_id)["candidate"] == "FREE0001"


def test_own_candidate_accepted_after_duplicate_check(
    client: TestClient, ledger: FakeLedger
) -> None:
    registration_id = open_registration(client)
    status, body = check(client, registration_id, "TANAKA01")
    assert status == 200
    assert body["candidate"] == "TANAKA01"
    done = client.post(f"/registrations/{registration_id}/completion", json=completion_form())
    assert done.status_code == 201
    assert done.json()["transaction_hash"].startswith("0x")
    assert ledger.registered == [("TANAKA01", "14130")]


def test_three_duplicate_errors_show_a_generated_candidate(
    client: TestClient, ledger: FakeLedger, generator: SequenceGenerator
) -> None:
    ledger.taken.update({"TAKEN001", "TAKEN002", "TAKEN003"})
    generator.values = ["AUTO0001"]
    registration_id = open_registration(client)
    status, first = check(client, registration_id, "TAKEN001")
    assert status == 409
    assert first["type"].endswith("mykey-id-taken")
    assert first["duplicate_errors"] == 1
    assert "generated_candidate" not in first
    assert "既に他の人に使用されています" in first["detail"]
    status, second = check(client, registration_id, "TAKEN002")
    assert (status, second["duplicate_errors"]) == (409, 2)
    assert "generated_candidate" not in second
    status, third = check(client, registration_id, "TAKEN003")
    assert (status, third["duplicate_errors"], third["generated_candidate"]) == (
        409,
        3,
        "AUTO0001",
    )
    done = client.post(f"/registrations/{registration_id}/completion", json=completion_form())
    assert done.status_code == 201
    assert done.json()["mykey_id"] == "AUTO0001"


def test_an_id_registered_in_the_store_is_taken(client: TestClient) -> None:
    register_resident(client, "TANAKA01", certificate=b"card-one")
    registration_id = open_registration(client, b"card-two")
    status, body = check(client, registration_id, "TANAKA01")
    assert status == 409
    assert body["duplicate_errors"] == 1


def test_malformed_candidates_are_field_errors_and_not_counted(client: TestClient) -> None:
    registration_id = open_registration(client)
    for candidate in ["tanaka01", "TANAKA0", "TANAKA012", "ＴＡＮＡＫＡ０１", "TANAKA-1", ""]:
        status, body = check(client, registration_id, candidate)
        assert status == 422, candidate
        assert body["errors"][0]["field"] == "candidate"
        assert body["errors"][0]["code"] == "mykey-id-format"
        assert "8ケタ" in body["errors"][0]["message"]
    status, body = check(client, registration_id, "TANAKA01")
    assert (status, body["duplicate_errors"]) == (200, 0)


def test_completion_needs_a_checked_candidate(client: TestClient) -> None:
    registration_id = open_registration(client)
    response = client.post(f"/registrations/{registration_id}/completion", json=completion_form())
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["candidate"]


def test_every_wrong_field_gets_its_own_message_at_once(client: TestClient) -> None:
    registration_id = open_registration(client)
    check(client, registration_id, "TANAKA01")
    response = client.post(
        f"/registrations/{registration_id}/completion",
        json=completion_form(
            password="abc",
            password_confirmation="abd",
            email="not-an-address",
            email_confirmation="not-an-address",
            prefecture_code="99",
            municipality_code="1413",
        ),
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    errors = {error["field"]: error for error in response.json()["errors"]}
    assert set(errors) == {
        "password",
        "password_confirmation",
        "email",
        "prefecture_code",
        "municipality_code",
    }
    assert errors["password"]["code"] == "password-format"
    assert errors["password"]["message"] == "パスワードは6～16ケタの半角英数字で入力してください。"
    assert errors["password_confirmation"]["code"] == "password-confirmation-mismatch"
    assert errors["email"]["code"] == "email-format"
    assert errors["prefecture_code"]["code"] == "prefecture-unknown"
    assert errors["municipality_code"]["code"] == "municipality-code-format"


def test_password_rules(client: TestClient) -> None:
    registration_id = open_registration(client)
    check(client, registration_id, "TANAKA01")
    bad = ["Abc12", "Abcdefgh123456789", "Abc 1234", "Abc_1234", "Ａｂｃ12345", "パスワード123"]
    for password in bad:
        response = client.post(
            f"/registrations/{registration_id}/completion",
            json=completion_form(password=password, password_confirmation=password),
        )
        assert response.status_code == 422, password
        assert [error["code"] for error in response.json()["errors"]] == ["password-format"]
    for password in ["abc123", "ABCDEFGHIJ123456"]:
        errors = client.post(
            f"/registrations/{registration_id}/completion",
            json=completion_form(
                password=password, password_confirmation=password, email_confirmation="x@y.jp"
            ),
        ).json()["errors"]
        assert [error["field"] for error in errors] == ["email_confirmation"], password


def test_email_is_optional_but_must_be_typed_twice(client: TestClient, store: Store) -> None:
    registration_id = open_registration(client)
    check(client, registration_id, "TANAKA01")
    missing = client.post(
        f"/registrations/{registration_id}/completion",
        json=completion_form(email_confirmation=None),
    )
    assert [error["code"] for error in missing.json()["errors"]] == ["email-confirmation-missing"]
    mismatch = client.post(
        f"/registrations/{registration_id}/completion",
        json=completion_form(email_confirmation="other@example.jp"),
    )
    assert [error["code"] for error in mismatch.json()["errors"]] == ["email-confirmation-mismatch"]
    done = client.post(
        f"/registrations/{registration_id}/completion",
        json=completion_form(email=None, email_confirmation=None),
    )
    assert done.status_code == 201
    with store.sessions() as db:
        assert db.scalars(select(Account.email)).one() is None
        assert db.scalars(select(OutboxMessage)).all() == []


def test_municipality_must_be_in_the_chosen_prefecture(client: TestClient) -> None:
    registration_id = open_registration(client)
    check(client, registration_id, "TANAKA01")
    response = client.post(
        f"/registrations/{registration_id}/completion",
        json=completion_form(prefecture_code="13", municipality_code="14130"),
    )
    assert [error["code"] for error in response.json()["errors"]] == ["municipality-unknown"]
    wrong_digit = client.post(
        f"/registrations/{registration_id}/completion",
        json=completion_form(prefecture_code="13", municipality_code="131165"),
    )
    assert [error["code"] for error in wrong_digit.json()["errors"]] == ["municipality-code-format"]
    six_digit = client.post(
        f"/registrations/{registration_id}/completion",
        json=completion_form(prefecture_code="13", municipality_code="131164"),
    )
    assert six_digit.status_code == 201
    assert six_digit.json()["home_municipality"] == "13116"


def test_registration_records_audit_and_queues_the_notice(client: TestClient, store: Store) -> None:
    register_resident(client, "TANAKA01")
    with store.sessions() as db:
        audit = db.scalars(
            select(AuditRecord).where(AuditRecord.action == "resident.mykey-id-registered")
        ).one()
        assert audit.actor == "TANAKA01"
        assert audit.transaction_hash is not None and audit.transaction_hash.startswith("0x")
        notice = db.scalars(select(OutboxMessage)).one()
        assert notice.kind == "mykey-id-registered"
        assert notice.recipient == "resident@example.jp"
        assert "TANAKA01" in notice.body
        assert notice.state == "pending"


def test_notice_choices_are_respected(client: TestClient, store: Store) -> None:
    register_resident(
        client,
        "TANAKA01",
        notices={
            "points_granted": True,
            "points_expired": True,
            "password_changed": True,
            "mykey_id_changes": False,
        },
    )
    with store.sessions() as db:
        assert db.scalars(select(OutboxMessage)).all() == []


def test_a_card_registers_only_once(client: TestClient) -> None:
    register_resident(client, "TANAKA01", certificate=b"same-card")
    challenge = client.post("/registrations/card-challenges").json()
    raw = b64url_decode(challenge["challenge"])
    response = client.post(
        "/registrations",
        json={
            "challenge_id": challenge["challenge_id"],
            "certificate": base64.b64encode(b"same-card").decode(),
            "signature": base64.b64encode(card_signature(raw, b"same-card")).decode(),
        },
    )
    assert response.status_code == 409
    assert response.json()["type"].endswith("card-already-registered")


def test_card_answer_must_verify_and_challenge_is_single_use(client: TestClient) -> None:
    challenge = client.post("/registrations/card-challenges").json()
    raw = b64url_decode(challenge["challenge"])
    wrong = client.post(
        "/registrations",
        json={
            "challenge_id": challenge["challenge_id"],
            "certificate": base64.b64encode(b"card").decode(),
            "signature": base64.b64encode(b"\x00" * 32).decode(),
        },
    )
    assert wrong.status_code == 401
    assert wrong.json()["type"].endswith("card-verification-failed")
    again = client.post(
        "/registrations",
        json={
            "challenge_id": challenge["challenge_id"],
            "certificate": base64.b64encode(b"card").decode(),
            "signature": base64.b64encode(card_signature(raw, b"card")).decode(),
        },
    )
    assert again.status_code == 410
    assert again.json()["type"].endswith("challenge-expired")


def test_challenge_and_registration_expire(client: TestClient, clock: FakeClock) -> None:
    challenge = client.post("/registrations/card-challenges").json()
    clock.advance(5 * 60)
    raw = b64url_decode(challenge["challenge"])
    late = client.post(
        "/registrations",
        json={
            "challenge_id": challenge["challenge_id"],
            "certificate": base64.b64encode(b"card").decode(),
            "signature": base64.b64encode(card_signature(raw, b"card")).decode(),
        },
    )
    assert late.status_code == 410
    registration_id = open_registration(client)
    clock.advance(30 * 60)
    expired = client.post(f"/registrations/{registration_id}/generated-candidates")
    assert expired.status_code == 410
    assert expired.json()["type"].endswith("registration-expired")


def test_not_base64_certificate_is_a_field_error(client: TestClient) -> None:
    challenge = client.post("/registrations/card-challenges").json()
    response = client.post(
        "/registrations",
        json={"challenge_id": challenge["challenge_id"], "certificate": "!!", "signature": "AA=="},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "certificate"


def test_ledger_outage_stores_nothing(client: TestClient, ledger: FakeLedger, store: Store) -> None:
    registration_id = open_registration(client)
    check(client, registration_id, "TANAKA01")
    ledger.down = True
    response = client.post(f"/registrations/{registration_id}/completion", json=completion_form())
    assert response.status_code == 503
    assert response.json()["type"].endswith("ledger-unavailable")
    with store.sessions() as db:
        assert db.scalars(select(Account)).all() == []
        assert db.scalars(select(OutboxMessage)).all() == []
    ledger.down = False
    retry = client.post(f"/registrations/{registration_id}/completion", json=completion_form())
    assert retry.status_code == 201


def test_id_taken_on_the_ledger_meanwhile_is_refused(
    client: TestClient, ledger: FakeLedger
) -> None:
    registration_id = open_registration(client)
    check(client, registration_id, "TANAKA01")
    ledger.taken.add("TANAKA01")
    response = client.post(f"/registrations/{registration_id}/completion", json=completion_form())
    assert response.status_code == 409
    assert response.json()["type"].endswith("mykey-id-taken")
    unchecked = client.post(f"/registrations/{registration_id}/completion", json=completion_form())
    assert [error["field"] for error in unchecked.json()["errors"]] == ["candidate"]


def test_a_completed_registration_cannot_be_reused(client: TestClient) -> None:
    registration_id = open_registration(client)
    check(client, registration_id, "TANAKA01")
    assert (
        client.post(
            f"/registrations/{registration_id}/completion", json=completion_form()
        ).status_code
        == 201
    )
    again = client.post(f"/registrations/{registration_id}/completion", json=completion_form())
    assert again.status_code == 410


def test_two_residents_racing_for_one_id_get_one_each(
    client: TestClient, ledger: FakeLedger, store: Store
) -> None:
    """Both pass the duplicate check; both press 登録 at once: one gets the ID, the other a 409."""
    first = open_registration(client, b"card-one")
    second = open_registration(client, b"card-two")
    assert check(client, first, "TANAKA01")[0] == 200
    assert check(client, second, "TANAKA01")[0] == 200

    barrier = threading.Barrier(2, timeout=10)
    original = ledger.is_mykey_id_taken

    def taken_after_both_checked(mykey_id: MykeyId) -> bool:
        answer = original(mykey_id)
        barrier.wait()  # both completions have seen "free" before either stores it
        return answer

    ledger.is_mykey_id_taken = taken_after_both_checked  # type: ignore[method-assign]
    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(
            pool.map(
                lambda registration_id: client.post(
                    f"/registrations/{registration_id}/completion", json=completion_form()
                ),
                [first, second],
            )
        )
    assert sorted(response.status_code for response in responses) == [201, 409]
    loser = next(response for response in responses if response.status_code == 409)
    assert loser.json()["type"].endswith("mykey-id-taken")
    assert ledger.registered == [("TANAKA01", "14130")]
    with store.sessions() as db:
        assert db.scalars(select(Account.mykey_id)).all() == ["TANAKA01"]


# ---- the registration statement ------------------------------------------------------------------


def answer(client: TestClient, challenge: dict[str, str], signed: bytes) -> int:
    """Post the fake card's answer over `signed`; return the status."""
    response = client.post(
        "/registrations",
        json={
            "challenge_id": challenge["challenge_id"],
            "certificate": base64.b64encode(b"card").decode(),
            "signature": base64.b64encode(card_signature(signed, b"card")).decode(),
        },
    )
    status: int = response.status_code
    return status


def test_the_challenge_is_a_registration_statement_in_its_exact_format(
    client: TestClient, clock: FakeClock
) -> None:
    challenge = client.post("/registrations/card-challenges").json()
    statement = b64url_decode(challenge["challenge"])
    lines = statement.decode("ascii").split("\n")
    assert lines[0] == REGISTRATION_HEADER == "mykey-ledger/registration/v1"
    assert [line.split("=", 1)[0] for line in lines[1:]] == ["challenge", "origin", "expires_at"]
    parsed = parse_registration_statement(statement)
    assert len(parsed.challenge) == 32
    assert parsed.origin == NO_ORIGIN  # not a page: the card helper never signs this one
    assert parsed.expires_at == challenge["expires_at"] == clock.now() + 5 * 60
    again = parse_registration_statement(
        b64url_decode(client.post("/registrations/card-challenges").json()["challenge"])
    )
    assert again.challenge != parsed.challenge


@pytest.mark.parametrize(
    ("headers", "body", "origin"),
    [
        ({"Origin": "https://mykey.example.jp"}, None, "https://mykey.example.jp"),
        ({}, {"origin": "http://127.0.0.1:8000"}, "http://127.0.0.1:8000"),
        ({"Origin": "http://127.0.0.1:8000"}, {"origin": "http://127.0.0.1:8000"},
         "http://127.0.0.1:8000"),
        ({}, {}, NO_ORIGIN),
    ],
)  # fmt: skip
def test_the_statement_names_the_page_that_asked(
    client: TestClient, headers: dict[str, str], body: dict[str, str] | None, origin: str
) -> None:
    issued = client.post("/registrations/card-challenges", headers=headers, json=body)
    assert issued.status_code == 201, issued.text
    statement = b64url_decode(issued.json()["challenge"])
    assert parse_registration_statement(statement).origin == origin
    assert answer(client, issued.json(), statement) == 201


@pytest.mark.parametrize(
    ("headers", "body", "code"),
    [
        ({"Origin": "https://mykey.example.jp"}, {"origin": "https://evil.example"},
         "origin-mismatch"),
        ({"Origin": "null"}, None, "origin-format"),
        ({"Origin": "HTTPS://MYKEY.EXAMPLE.JP"}, None, "origin-format"),
        ({}, {"origin": "https://mykey.example.jp/my/register"}, "origin-format"),
        ({}, {"origin": "https://mykey.example.jp\norigin=https://evil.example"},
         "origin-format"),
        ({}, {"origin": "-"}, "origin-format"),
        ({"Origin": "http://["}, None, "origin-format"),
        ({}, {"origin": "http://a b.jp"}, "origin-format"),
    ],
)  # fmt: skip
def test_a_contradicted_or_malformed_origin_is_a_field_error(
    client: TestClient,
    store: Store,
    headers: dict[str, str],
    body: dict[str, str] | None,
    code: str,
) -> None:
    refused = client.post("/registrations/card-challenges", headers=headers, json=body)
    assert refused.status_code == 422, refused.text
    assert [(error["field"], error["code"]) for error in refused.json()["errors"]] == [
        ("origin", code)
    ]
    with store.sessions() as db:
        assert db.scalars(select(CardChallenge)).all() == []


def test_the_card_must_sign_the_whole_statement_not_only_its_random_part(
    client: TestClient,
) -> None:
    challenge = client.post(
        "/registrations/card-challenges", headers={"Origin": "https://mykey.example.jp"}
    ).json()
    random_part = parse_registration_statement(b64url_decode(challenge["challenge"])).challenge
    assert answer(client, challenge, random_part) == 401


def test_another_kind_of_stored_statement_cannot_open_a_registration(
    client: TestClient, store: Store, clock: FakeClock
) -> None:
    placement = b"mykey-ledger/reserve-placement/v1\nreserve_id=1\nexpires_at=9999999999"
    with store.sessions() as db:
        db.add(
            CardChallenge(
                id="placement-1", challenge=placement, expires_at=clock.now() + 300, used=False
            )
        )
        db.commit()
    assert answer(client, {"challenge_id": "placement-1"}, placement) == 410
    with store.sessions() as db:
        row = db.get(CardChallenge, "placement-1")
        assert row is not None and row.used is False  # not spent: it belongs to the reserve
