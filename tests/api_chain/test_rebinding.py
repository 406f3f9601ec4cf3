"""Re-binding a MyKey ID to a renewed card on a real node with virtual cards of the test JPKI.

The resident proves the binding with the previous card and moves it to the renewed one; staff of
the home municipality re-bind after an in-person check. Either way the ID and its points stay,
the ledger counts one more binding, only the renewed card identifies the resident afterwards, and
a resident who chose it gets the "MyKey ID changed" e-mail. Every refusal: renewed card already
bound, previous card not this ID's, revoked ID, wrong role, another municipality, reused challenge;
and a previous card whose certificate J-LIS revoked as superseded still proves its binding.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from cryptography import x509
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.cards import JpkiCardVerifier
from api.chain.side import build_chain_side
from api.clock import SystemClock
from api.settings import ApiSettings
from api.store.database import Store
from api.store.models import Account, AuditRecord, OutboxMessage
from card_bridge.platform_checks.certificates import TrustConfiguration
from contracts.client import LedgerClient
from contracts.domain import mykey_id_bytes
from tests.api_chain.conftest import (
    KAWASAKI,
    ChainWorld,
    VirtualCard,
    b64url_decode,
    grant,
    new_card,
    register,
    staff_token,
)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _login(api: TestClient, mykey_id: str) -> dict[str, str]:
    response = api.post("/sessions", json={"mykey_id": mykey_id, "password": "Abc12345"})
    assert response.status_code == 201, response.text
    return _bearer(response.json()["token"])


def _answers(
    api: TestClient, resident: dict[str, str], previous: VirtualCard, renewed: VirtualCard
) -> dict[str, dict[str, str]]:
    """Ask for both challenges; return the body in which each card answered its own."""
    opened = api.post("/me/card-rebindings/challenges", headers=resident)
    assert opened.status_code == 201, opened.text
    by_role = {item["role"]: item for item in opened.json()["challenges"]}
    return {
        f"{role.split('-')[0]}_card": {"challenge_id": by_role[role]["challenge_id"]}
        | card.answer(b64url_decode(by_role[role]["statement"]))
        for role, card in (("previous-card", previous), ("renewed-card", renewed))
    }


def _bindings(world: ChainWorld, mykey_id: str) -> int:
    client = LedgerClient(world.w3, world.demo.deployment)
    record = client.registry.functions.recordOf(mykey_id_bytes(mykey_id)).call()
    return int(record[2])


def _fingerprint(store: Store, mykey_id: str) -> str:
    with store.sessions() as db:
        account = db.scalars(select(Account).where(Account.mykey_id == mykey_id)).one()
        return account.certificate_fingerprint


def _choose_email_notices(store: Store, mykey_id: str) -> None:
    """As if the resident had given an address and ticked "MyKey ID changes" at registration."""
    with store.sessions() as db:
        account = db.scalars(select(Account).where(Account.mykey_id == mykey_id)).one()
        account.email = f"{mykey_id.lower()}@example.jp"
        account.notify_mykey_id_changes = True
        db.commit()


def test_the_resident_moves_the_id_to_the_renewed_card_with_both_cards(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    old, renewed = new_card(world), new_card(world)
    mykey_id = register(api, old, home="14130")
    staff = staff_token(store, api, role="municipal-staff", organisation="14130")
    grant(api, staff, mykey_id, 700)
    _choose_email_notices(store, mykey_id)
    resident = _login(api, mykey_id)
    before = _fingerprint(store, mykey_id)

    rebound = api.post(
        "/me/card-rebindings", json=_answers(api, resident, old, renewed), headers=resident
    )

    assert rebound.status_code == 200, rebound.text
    assert rebound.json()["mykey_id"] == mykey_id
    ledger = api.app.state.chain.ledger  # type: ignore[attr-defined]
    assert ledger.balance_of(mykey_id, KAWASAKI) == 700
    assert _bindings(world, mykey_id) == 2
    assert _fingerprint(store, mykey_id) not in {before, ""}
    # Only the renewed card is this resident's now: as the previous card it proves the binding.
    newer = new_card(world)
    assert (
        api.post(
            "/me/card-rebindings", json=_answers(api, resident, renewed, newer), headers=resident
        ).status_code
        == 200
    )
    refused = api.post(
        "/me/card-rebindings", json=_answers(api, resident, old, new_card(world)), headers=resident
    )
    assert refused.json()["type"] == "urn:mykey-ledger:problem:previous-card-not-bound"
    api.app.state.indexer.catch_up()  # type: ignore[attr-defined]
    with store.sessions() as db:
        notices = db.scalars(
            select(OutboxMessage).where(
                OutboxMessage.recipient == f"{mykey_id.lower()}@example.jp",
                OutboxMessage.kind == "mykey-id-changed",
            )
        ).all()
        audit = db.scalars(
            select(AuditRecord)
            .where(AuditRecord.action == "card-rebound", AuditRecord.target == mykey_id)
            .order_by(AuditRecord.id)
        ).all()
    assert len(notices) == 2  # one per re-binding, each once
    assert len(audit) == 2
    assert audit[0].transaction_hash == rebound.json()["transaction_hash"]


def test_resident_refusals(world: ChainWorld, api: TestClient, store: Store) -> None:
    old, renewed, stranger = new_card(world), new_card(world), new_card(world)
    mykey_id = register(api, old)
    register(api, stranger)  # the stranger's card is bound to another MyKey ID
    resident = _login(api, mykey_id)

    taken = api.post(
        "/me/card-rebindings", json=_answers(api, resident, old, stranger), headers=resident
    )
    assert (taken.status_code, taken.json()["type"]) == (
        409,
        "urn:mykey-ledger:problem:card-already-registered",
    )
    not_bound = api.post(
        "/me/card-rebindings",
        json=_answers(api, resident, renewed, new_card(world)),
        headers=resident,
    )
    assert (not_bound.status_code, not_bound.json()["type"]) == (
        409,
        "urn:mykey-ledger:problem:previous-card-not-bound",
    )
    swapped = _answers(api, resident, old, renewed)
    swapped["previous_card"]["challenge_id"], swapped["renewed_card"]["challenge_id"] = (
        swapped["renewed_card"]["challenge_id"],
        swapped["previous_card"]["challenge_id"],
    )
    reused = api.post("/me/card-rebindings", json=swapped, headers=resident)
    assert (reused.status_code, reused.json()["type"]) == (
        410,
        "urn:mykey-ledger:problem:challenge-expired",
    )
    LedgerClient(world.w3, world.demo.deployment).revoke_mykey(world.demo.platform_key, mykey_id)
    revoked = api.post(
        "/me/card-rebindings", json=_answers(api, resident, old, renewed), headers=resident
    )
    assert (revoked.status_code, revoked.json()["type"]) == (
        403,
        "urn:mykey-ledger:problem:mykey-id-revoked",
    )
    assert _bindings(world, mykey_id) == 1


def _staff_rebind(
    api: TestClient, staff: str, mykey_id: str, card: VirtualCard, reason: str = "カード更新"
) -> dict[str, object]:
    opened = api.post(
        "/staff/card-rebindings/challenges", json={"mykey_id": mykey_id}, headers=_bearer(staff)
    )
    if opened.status_code != 201:
        return {"status": opened.status_code, **opened.json()}
    [challenge] = opened.json()["challenges"]
    response = api.post(
        "/staff/card-rebindings",
        json={
            "mykey_id": mykey_id,
            "reason": reason,
            "renewed_card": {"challenge_id": challenge["challenge_id"]}
            | card.answer(b64url_decode(challenge["statement"])),
        },
        headers=_bearer(staff),
    )
    body: dict[str, object] = {"status": response.status_code, **response.json()}
    return body


def test_home_municipality_staff_rebind_after_an_in_person_check(
    world: ChainWorld, api: TestClient, store: Store
) -> None:
    mykey_id = register(api, new_card(world), home="14130")
    renewed = new_card(world)
    kawasaki = staff_token(store, api, role="municipal-staff", organisation="14130")
    toshima = staff_token(store, api, role="municipal-staff", organisation="13116")
    partner = staff_token(
        store, api, role="partner-operator", organisation=str(world.demo.partner.partner_id)
    )

    other_town = _staff_rebind(api, toshima, mykey_id, renewed)
    wrong_role = _staff_rebind(api, partner, mykey_id, renewed)
    done = _staff_rebind(api, kawasaki, mykey_id, renewed, reason="紛失・再発行（本人確認済み）")

    assert (
        other_town["status"] == 403 and other_town["type"] == "urn:mykey-ledger:problem:forbidden"
    )
    assert wrong_role["status"] == 403
    assert (done["status"], done["mykey_id"]) == (200, mykey_id), done
    assert _bindings(world, mykey_id) == 2
    with store.sessions() as db:
        record = db.scalars(
            select(AuditRecord).where(
                AuditRecord.action == "card-rebound", AuditRecord.target == mykey_id
            )
        ).one()
    assert '"method": "municipality"' in record.detail
    again = _staff_rebind(api, kawasaki, mykey_id, renewed)
    assert (again["status"], again["type"]) == (
        409,
        "urn:mykey-ledger:problem:card-already-registered",
    )


@contextmanager
def _api_after_renewals(
    world: ChainWorld, settings: ApiSettings, revoked: dict[int, x509.ReasonFlags]
) -> Iterator[TestClient]:
    """The same API (same store) once J-LIS's revocation list names the renewed cards' old
    certificates, as it does after a renewal."""
    now = datetime.now(UTC)
    trust = TrustConfiguration(
        anchors=(world.authority.certificate,),
        revocation_lists=(world.authority.revocation_list(now, revoked),),
    )
    side = build_chain_side(world.config, world.keys, SystemClock())
    app = create_app(settings, cards=JpkiCardVerifier(trust), chain=side)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_a_superseded_previous_certificate_still_proves_the_binding_a_compromised_one_not(
    world: ChainWorld, api: TestClient, settings: ApiSettings
) -> None:
    superseded, compromised = new_card(world), new_card(world)
    renewed_ids = [register(api, superseded), register(api, compromised)]
    revoked = {
        superseded.issue.auth_certificate.serial_number: x509.ReasonFlags.superseded,
        compromised.issue.auth_certificate.serial_number: x509.ReasonFlags.key_compromise,
    }

    with _api_after_renewals(world, settings, revoked) as renewed_api:
        challenge = renewed_api.post("/registrations/card-challenges").json()
        as_login = renewed_api.post(
            "/registrations",
            json={"challenge_id": challenge["challenge_id"]}
            | superseded.answer(b64url_decode(challenge["challenge"])),
        )
        first, second = (_login(renewed_api, mykey_id) for mykey_id in renewed_ids)
        proved = renewed_api.post(
            "/me/card-rebindings",
            json=_answers(renewed_api, first, superseded, new_card(world)),
            headers=first,
        )
        refused = renewed_api.post(
            "/me/card-rebindings",
            json=_answers(renewed_api, second, compromised, new_card(world)),
            headers=second,
        )

    assert as_login.json()["type"] == "urn:mykey-ledger:problem:card-certificate-refused"
    assert proved.status_code == 200, proved.text
    assert (refused.status_code, refused.json()["type"]) == (
        401,
        "urn:mykey-ledger:problem:card-certificate-refused",
    )
    assert [_bindings(world, mykey_id) for mykey_id in renewed_ids] == [2, 1]
