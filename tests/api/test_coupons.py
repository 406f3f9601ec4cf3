"""One-off coupon codes without a ledger: the code format, issuing, listing, every refusal, the
rate limit on wrong codes and the single-use claim under concurrency (SQLite and PostgreSQL).

The successful conversion runs against a real node: tests/api_chain/test_coupon_conversions.py.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, select

from api.errors import ApiError
from api.passwords import PasswordService
from api.services.audit import SYSTEM_ACTOR
from api.services.coupon_codes import (
    CHECK_SYMBOLS,
    SYMBOLS,
    CouponCode,
    CouponCodeCheckFailed,
    CouponCodeMalformed,
    check_symbol,
    random_code,
    read_code,
)
from api.services.coupons import ClaimedCoupon, CouponUsed, claim_coupon
from api.services.lockout import LockoutPolicy
from api.services.partner_links import lookup_hash_key
from api.services.staff import create_staff_account
from api.settings import ApiSettings
from api.store.database import Store
from api.store.models import Account, AuditRecord, Coupon, CouponAttempts
from tests.api.conftest import (
    FAST_HASHING,
    FakeClock,
    FakeLedger,
    login,
    register_resident,
)
from tests.api.postgres_app import api_on_postgres

STAFF_PASSWORD = "partner passphrase 1"
DAY = 86_400


def staff_token(
    store: Store, client: TestClient, clock: FakeClock, *, role: str, organisation: str | None
) -> dict[str, str]:
    """Create a staff account with `role` and log in; return the Authorization header."""
    login_name = f"{role}.{organisation}"
    with store.sessions() as db:
        create_staff_account(
            db=db,
            passwords=PasswordService(FAST_HASHING),
            actor=SYSTEM_ACTOR,
            login_name=login_name,
            password=STAFF_PASSWORD,
            role=role,
            organisation=organisation,
            now=clock.now(),
        )
    response = client.post(
        "/staff/sessions", json={"login_name": login_name, "password": STAFF_PASSWORD}
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def issue(
    client: TestClient, partner: dict[str, str], *, count: int, expires_at: int, units: int = 500
) -> dict[str, object]:
    response = client.post(
        "/partners/coupons",
        json={"count": count, "partner_units": units, "expires_at": expires_at},
        headers=partner,
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def mistype(code: str) -> str:
    """Return `code` with its first symbol replaced by another valid symbol."""
    first = code[0]
    other = SYMBOLS[(SYMBOLS.index(first) + 1) % len(SYMBOLS)]
    return other + code[1:]


@pytest.fixture
def partner(store: Store, client: TestClient, clock: FakeClock) -> dict[str, str]:
    return staff_token(store, client, clock, role="partner-operator", organisation="7")


@pytest.fixture
def resident(client: TestClient) -> dict[str, str]:
    register_resident(client, "TANAKA01")
    return {"Authorization": f"Bearer {login(client)}"}


# ---- the code format ----------------------------------------------------------------------------


def test_a_printed_code_reads_back_and_forgives_case_spaces_and_lookalikes() -> None:
    code = random_code()
    printed = code.printed
    assert len(printed) == 19
    assert [len(group) for group in printed.split("-")] == [4, 4, 4, 4]
    assert read_code(printed) == code
    assert read_code(printed.lower().replace("-", " ")) == code
    assert read_code("OIL" + CouponCode("011" + code.data[3:]).printed[3:]) == CouponCode(
        "011" + code.data[3:]
    )


@given(st.text(alphabet=SYMBOLS, min_size=15, max_size=15), st.integers(0, 15), st.data())
def test_every_single_wrong_symbol_is_caught(data: str, position: int, draw: st.DataObject) -> None:
    full = data + check_symbol(data)
    alphabet = CHECK_SYMBOLS if position == 15 else SYMBOLS
    wrong = draw.draw(st.sampled_from([s for s in alphabet if s != full[position]]))
    typed = full[:position] + wrong + full[position + 1 :]
    with pytest.raises(CouponCodeCheckFailed):
        read_code(typed)


@given(st.text(alphabet=SYMBOLS, min_size=15, max_size=15), st.integers(0, 13))
def test_every_swap_of_two_different_neighbours_is_caught(data: str, position: int) -> None:
    if data[position] == data[position + 1]:
        return
    swapped = data[:position] + data[position + 1] + data[position] + data[position + 2 :]
    with pytest.raises(CouponCodeCheckFailed):
        read_code(swapped + check_symbol(data))


@pytest.mark.parametrize("text", ["", "ABCD-EFGH", "ABCD-EFGH-JKMN-PQRS-T", "ABCD-EFGH-JKMN-PQU0"])
def test_malformed_codes_are_refused_as_such(text: str) -> None:
    with pytest.raises(CouponCodeMalformed):
        read_code(text)


# ---- issuing and listing ------------------------------------------------------------------------


def test_a_partner_issues_codes_shown_once_and_stored_only_as_keyed_hashes(
    client: TestClient,
    partner: dict[str, str],
    clock: FakeClock,
    store: Store,
    settings: ApiSettings,
) -> None:
    batch = issue(client, partner, count=20, expires_at=clock.now() + 30 * DAY)
    codes = batch["codes"]
    assert isinstance(codes, list)
    assert len(set(codes)) == 20
    assert batch["partner"] == 7
    assert all(read_code(code).printed == code for code in codes)
    with store.sessions() as db:
        hashes = set(db.scalars(select(Coupon.code_hash)).all())
        audit = db.scalars(select(AuditRecord).where(AuditRecord.action == "coupon-batch-issued"))
        assert [record.target for record in audit] == [f"partner:7/batch:{batch['batch_id']}"]
    assert len(hashes) == 20
    stored = settings.database_url.removeprefix("sqlite:///")
    raw = open(stored, "rb").read() + open(stored + "-wal", "rb").read()  # noqa: SIM115
    for code in codes:
        assert read_code(code).data.encode() not in raw
        assert code.encode() not in raw


def test_batches_list_counts_issued_used_and_expired_never_codes(
    *,
    client: TestClient,
    partner: dict[str, str],
    resident: dict[str, str],
    clock: FakeClock,
    store: Store,
    settings: ApiSettings,
) -> None:
    first = issue(client, partner, count=3, expires_at=clock.now() + 600)
    second = issue(client, partner, count=2, expires_at=clock.now() + 10 * DAY)
    codes = first["codes"]
    assert isinstance(codes, list)
    with store.sessions() as db:
        account = db.scalars(select(Account)).one()
        claim_coupon(
            db=db,
            hash_key=lookup_hash_key(settings.service_id_key_file),
            policy=LockoutPolicy(5, 60),
            account=account,
            code_text=codes[0],
            now=clock.now(),
        )
    clock.advance(601)  # past the first batch's expiry, within the staff session

    listed = client.get("/partners/coupons", headers=partner)

    assert listed.status_code == 200
    assert "codes" not in listed.text and codes[1] not in listed.text
    summary = {
        row["batch_id"]: (row["issued"], row["used"], row["expired"]) for row in listed.json()
    }
    assert summary == {first["batch_id"]: (3, 1, 2), second["batch_id"]: (2, 0, 0)}
    other = staff_token(store, client, clock, role="partner-operator", organisation="8")
    assert client.get("/partners/coupons", headers=other).json() == []


def test_issuing_refuses_each_wrong_field_and_other_roles(
    client: TestClient, partner: dict[str, str], clock: FakeClock, store: Store
) -> None:
    response = client.post(
        "/partners/coupons",
        json={"count": 1001, "partner_units": 0, "expires_at": clock.now()},
        headers=partner,
    )
    assert response.status_code == 422
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} == {
        ("count", "count-range"),
        ("partner_units", "invalid"),
        ("expires_at", "in-the-past"),
    }
    staff = staff_token(store, client, clock, role="municipal-staff", organisation="14130")
    refused = client.post(
        "/partners/coupons",
        json={"count": 1, "partner_units": 1, "expires_at": clock.now() + DAY},
        headers=staff,
    )
    assert refused.status_code == 403
    assert client.get("/partners/coupons").status_code == 401


# ---- redeeming: refusals before the ledger ------------------------------------------------------


def _redeem(client: TestClient, resident: dict[str, str], code: str) -> tuple[int, Any]:
    response = client.post("/me/coupon-redemptions", json={"code": code}, headers=resident)
    return response.status_code, response.json()


def test_a_typo_is_a_field_error_and_an_unknown_or_expired_code_its_own_problem(
    client: TestClient, partner: dict[str, str], resident: dict[str, str], clock: FakeClock
) -> None:
    codes = issue(client, partner, count=1, expires_at=clock.now() + 600)["codes"]
    assert isinstance(codes, list)
    code = codes[0]

    status, body = _redeem(client, resident, mistype(code))
    assert status == 422
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("code", "coupon-code-check")]
    status, body = _redeem(client, resident, "ABCD")
    assert status == 422
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("code", "coupon-code-format")]
    status, body = _redeem(client, resident, random_code().printed)
    assert (status, body["type"]) == (404, "urn:mykey-ledger:problem:coupon-unknown")
    clock.advance(601)
    status, body = _redeem(client, resident, code)
    assert (status, body["type"]) == (410, "urn:mykey-ledger:problem:coupon-expired")


def test_without_the_ledger_a_claimed_code_is_given_back(
    client: TestClient,
    partner: dict[str, str],
    resident: dict[str, str],
    clock: FakeClock,
    store: Store,
) -> None:
    codes = issue(client, partner, count=1, expires_at=clock.now() + DAY)["codes"]
    assert isinstance(codes, list)

    status, body = _redeem(client, resident, codes[0])

    assert (status, body["type"]) == (503, "urn:mykey-ledger:problem:ledger-unavailable")
    with store.sessions() as db:
        assert db.scalars(select(Coupon.state)).all() == ["issued"]


def test_repeated_wrong_codes_pause_redemption_but_typos_do_not_count(
    client: TestClient, resident: dict[str, str], clock: FakeClock
) -> None:
    for _ in range(10):
        assert _redeem(client, resident, mistype(random_code().printed))[0] == 422
    statuses = [_redeem(client, resident, random_code().printed)[0] for _ in range(5)]
    assert statuses == [404, 404, 404, 404, 429]
    status, body = _redeem(client, resident, random_code().printed)
    assert (status, body["type"]) == (429, "urn:mykey-ledger:problem:coupon-attempts-limited")
    response = client.post(
        "/me/coupon-redemptions", json={"code": random_code().printed}, headers=resident
    )
    assert int(response.headers["Retry-After"]) > 0
    clock.advance(30 * 60 + 1)
    resident = {"Authorization": f"Bearer {login(client)}"}  # the session ended meanwhile
    assert _redeem(client, resident, random_code().printed)[0] == 404


# ---- the single-use claim -----------------------------------------------------------------------


def _race(store: Store, settings: ApiSettings, code: str, now: int) -> list[object]:
    """Two residents' sessions claim `code` at the same moment; return both outcomes."""
    with store.sessions() as db:
        account_ids = [account.id for account in db.scalars(select(Account)).all()]
    barrier = threading.Barrier(len(account_ids))
    key = lookup_hash_key(settings.service_id_key_file)

    def claim(account_id: int) -> object:
        with store.sessions() as db:
            account = db.get(Account, account_id)
            assert account is not None
            barrier.wait()
            try:
                return claim_coupon(
                    db=db,
                    hash_key=key,
                    policy=LockoutPolicy(5, 60),
                    account=account,
                    code_text=code,
                    now=now,
                )
            except ApiError as error:
                return error

    with ThreadPoolExecutor(len(account_ids)) as pool:
        return list(pool.map(claim, account_ids))


def test_two_simultaneous_claims_of_one_code_have_exactly_one_winner(
    client: TestClient,
    partner: dict[str, str],
    clock: FakeClock,
    store: Store,
    settings: ApiSettings,
) -> None:
    register_resident(client, "TANAKA01", b"certificate-A")
    register_resident(client, "SUZUKI02", b"certificate-B")
    for _ in range(5):
        # A lost race counts as a wrong attempt (a used code); start each round with a clean
        # slate so that one resident losing every round is not paused by the lock-out instead.
        with store.sessions() as db:
            db.execute(delete(CouponAttempts))
            db.commit()
        codes = issue(client, partner, count=1, expires_at=clock.now() + DAY)["codes"]
        assert isinstance(codes, list)
        outcomes = _race(store, settings, codes[0], clock.now())
        assert sorted(type(outcome).__name__ for outcome in outcomes) == [
            ClaimedCoupon.__name__,
            CouponUsed.__name__,
        ]


@pytest.mark.realstack
def test_claims_and_batches_on_postgres(
    settings: ApiSettings, clock: FakeClock, ledger: FakeLedger
) -> None:
    with api_on_postgres(settings, clock, ledger) as pg:
        partner = staff_token(pg.store, pg.client, clock, role="partner-operator", organisation="7")
        register_resident(pg.client, "TANAKA01", b"certificate-A")
        register_resident(pg.client, "SUZUKI02", b"certificate-B")
        codes = issue(pg.client, partner, count=3, expires_at=clock.now() + DAY)["codes"]
        assert isinstance(codes, list)
        outcomes = _race(pg.store, pg.settings, codes[0], clock.now())
        assert sorted(type(outcome).__name__ for outcome in outcomes) == [
            ClaimedCoupon.__name__,
            CouponUsed.__name__,
        ]
        listed = pg.client.get("/partners/coupons", headers=partner).json()
        assert [(b["issued"], b["used"], b["expired"]) for b in listed] == [(3, 1, 0)]
