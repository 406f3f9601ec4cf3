"""The whole resident journey, end to end, with the chain's clock really moved 14 days.

One ordered story (issue 6, "What must be proved") against a real dev node on LevelDB, the API
over HTTP, the virtual card on pcscd (PIN + JPKI signature) and a real SMTP server:

a. a resident registers a MyKey ID (screen 16) with e-mail and every notice on: one e-mail;
b. municipal staff grant points: one e-mail;
c. a partner converts: the reserve's deadline is the conversion block's time + reserve period;
d. a second conversion, placed in another municipality with the card;
e. block time moves 14 days + 1 s: the unplaced reserve counts at home at once (lazily), the
   sweep records it; a card statement and a platform attestation signed before the move are
   both refused as expired, a fresh placement after the move is accepted;
f. a redemption at the store with card + PIN: the receipt's remaining balance is what the
   balance endpoint then shows; a refund;
g. the treasurer's statement equals the indexed events, each line traceable to this journey's
   transactions, equal to the chain, and reconciliation finds no difference;
h. the outbox sent each notice exactly once, and a restarted sender sends nothing again.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pytest
from sqlalchemy import select

from api.chain.errors import AttestationRefused
from api.chain.ledger import tx_hash_of
from api.indexer.follower import ChainIndexer
from api.notices.chain_notices import ChainNoticeHook, enqueue_chain_notices
from api.notices.outbox import OutboxState
from api.store.models import ChainEvent, OutboxMessage
from contracts.client import LedgerClient
from contracts.domain import Action, TerminalKind
from tests.api_chain.conftest import b64url_decode, random_mykey_id, staff_token
from tests.api_e2e.conftest import MAIL_DOMAIN, Journey

pytestmark = [pytest.mark.realstack, pytest.mark.timeout(240)]

KAWASAKI, TOSHIMA = 14130, 13116
RESERVE_PERIOD_SECONDS = 14 * 86_400
PASSWORD = "Journey2026"
EMAIL = "hanako.journey@example.jp"
GRANTED, CONVERTED_HOME, CONVERTED_PLACED, CONVERTED_AFTER = 1_000, 800, 300, 200
REDEEMED, REFUNDED = 700, 100
RESERVE_PENDING, RESERVE_PLACED, RESERVE_GONE_HOME = 1, 2, 3
BUSINESS_EVENTS = {"PointsRedeemed": 1, "PointsRefunded": -1, "VoucherRedeemed": 1}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(journey: Journey, mykey_id: str) -> dict[str, str]:
    response = journey.api.post("/sessions", json={"mykey_id": mykey_id, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return bearer(response.json()["token"])


def staff(journey: Journey, role: str, organisation: str) -> dict[str, str]:
    return bearer(staff_token(journey.store, journey.api, role=role, organisation=organisation))


def balances(journey: Journey, resident: dict[str, str]) -> dict[int, int]:
    response = journey.api.get("/me/balances", headers=resident)
    assert response.status_code == 200, response.text
    return {int(line["municipality_code"]): line["points"] for line in response.json()}


def pending_reserve_ids(journey: Journey, resident: dict[str, str]) -> list[int]:
    response = journey.api.get("/me/reserves", headers=resident)
    assert response.status_code == 200, response.text
    return [reserve["reserve_id"] for reserve in response.json()]


def outbox_kinds(journey: Journey) -> Counter[str]:
    with journey.store.sessions() as db:
        return Counter(db.scalars(select(OutboxMessage.kind)).all())


def mail_kinds(journey: Journey) -> Counter[str]:
    """Kinds of the e-mails the SMTP server accepted, matched to the outbox by Message-ID."""
    with journey.store.sessions() as db:
        kind_of = {row.message_id: row.kind for row in db.scalars(select(OutboxMessage))}
    return Counter(kind_of[str(m["Message-ID"])] for m in journey.smtp.handler.accepted)


def went_home_ids(journey: Journey) -> set[str]:
    with journey.store.sessions() as db:
        return set(
            db.scalars(
                select(OutboxMessage.message_id).where(OutboxMessage.kind == "reserve-went-home")
            )
        )


def send_notices(journey: Journey) -> int:
    report = journey.sender().run_once()
    assert report.failed == 0 and report.retrying == 0, report
    return report.sent


def convert(journey: Journey, partner: dict[str, str], mykey_id: str, units: int) -> Any:
    response = journey.api.post(
        "/conversions",
        json={"mykey_id": mykey_id, "partner_units": units, "reference": f"order-{units}"},
        headers=partner,
    )
    assert response.status_code == 201, response.text
    return response.json()


def place(journey: Journey, resident: dict[str, str], reserve_id: int, municipality: int) -> Any:
    """Place a reserve with the card (through pcscd); return the placement."""
    statement = journey.api.post(
        f"/me/reserves/{reserve_id}/placement-statements",
        json={"municipality_code": f"{municipality:05d}"},
        headers=resident,
    )
    assert statement.status_code == 201, statement.text
    placed = journey.api.post(
        f"/me/reserves/{reserve_id}/placements",
        json={"challenge_id": statement.json()["challenge_id"]}
        | journey.card.answer(b64url_decode(statement.json()["statement"])),
        headers=resident,
    )
    assert placed.status_code == 200, placed.text
    return placed.json()


def register_with_card(journey: Journey) -> str:
    """Screen 16: card, own candidate, password twice, e-mail twice, all notices, home city."""
    challenge = journey.api.post("/registrations/card-challenges").json()
    opened = journey.api.post(
        "/registrations",
        json={"challenge_id": challenge["challenge_id"]}
        | journey.card.answer(b64url_decode(challenge["challenge"])),
    )
    assert opened.status_code == 201, opened.text
    registration = opened.json()["registration_id"]
    mykey_id = random_mykey_id()
    checked = journey.api.post(
        f"/registrations/{registration}/candidate-checks", json={"candidate": mykey_id}
    )
    assert checked.status_code == 200, checked.text
    done = journey.api.post(
        f"/registrations/{registration}/completion",
        json={
            "password": PASSWORD,
            "password_confirmation": PASSWORD,
            "email": EMAIL,
            "email_confirmation": EMAIL,
            "notices": {
                "points_granted": True,
                "points_expired": True,
                "password_changed": True,
                "mykey_id_changes": True,
            },
            "prefecture_code": "14",
            "municipality_code": str(KAWASAKI),
        },
    )
    assert done.status_code == 201, done.text
    return mykey_id


def indexed_statement(journey: Journey, municipality: int, period: int) -> tuple[Any, Any]:
    """Payables per business and receivables per partner summed straight from the index."""
    payable: dict[int, int] = defaultdict(int)
    receivable: dict[int, int] = defaultdict(int)
    business_tx: dict[int, set[str]] = defaultdict(set)
    partner_tx: dict[int, set[str]] = defaultdict(set)
    with journey.store.sessions() as db:
        rows = db.scalars(
            select(ChainEvent).where(
                ChainEvent.municipality == municipality, ChainEvent.period == period
            )
        ).all()
    for row in rows:
        assert row.counterparty is not None and row.amount is not None
        if row.name in BUSINESS_EVENTS:
            payable[row.counterparty] += BUSINESS_EVENTS[row.name] * row.amount
            business_tx[row.counterparty].add(row.transaction_hash)
        elif row.name == "ReservePlaced":
            receivable[row.counterparty] += row.amount
            partner_tx[row.counterparty].add(row.transaction_hash)
    return (payable, business_tx), (receivable, partner_tx)


def test_resident_journey_with_the_clock_moved_fourteen_days(journey: Journey) -> None:
    api, side, demo = journey.api, journey.side, journey.world.demo
    w3 = journey.world.w3
    partner_id = demo.partner.partner_id
    store_id = demo.businesses["store"].business_id
    store_terminal = demo.businesses["store"].terminal_keys[TerminalKind.POINT_USE]

    # a. registration with the card, e-mail and every notice on: the "registered" mail arrives
    mykey_id = register_with_card(journey)
    assert side.ledger.mykey_status(mykey_id) == (1, KAWASAKI)
    assert send_notices(journey) == 1
    assert mail_kinds(journey) == Counter({"mykey-id-registered": 1})
    (registered_mail,) = journey.smtp.handler.accepted
    assert str(registered_mail["To"]) == EMAIL and mykey_id in registered_mail.get_content()

    # b. municipal staff grant points: the "points granted" mail arrives
    kawasaki_staff = staff(journey, "municipal-staff", str(KAWASAKI))
    granted = api.post(
        "/grants",
        json={"mykey_id": mykey_id, "points": GRANTED, "activity": "volunteering"},
        headers=kawasaki_staff,
    )
    assert granted.status_code == 201, granted.text
    assert send_notices(journey) == 1
    assert mail_kinds(journey)["points-granted"] == 1
    resident = login(journey, mykey_id)
    assert balances(journey, resident) == {KAWASAKI: GRANTED}

    # c. a partner converts: deadline = the conversion block's timestamp + the reserve period
    partner = staff(journey, "partner-operator", str(partner_id))
    first = convert(journey, partner, mykey_id, CONVERTED_HOME)
    conversion_receipt = w3.eth.get_transaction_receipt(first["transaction_hash"])
    block = w3.eth.get_block(conversion_receipt["blockNumber"])
    client = LedgerClient(w3, demo.deployment)
    reserve_period = int(client.consortium.functions.reservePeriod().call())
    assert reserve_period == RESERVE_PERIOD_SECONDS
    assert first["deadline"] == int(block["timestamp"]) + reserve_period
    assert (first["amount"], first["home_municipality"]) == (CONVERTED_HOME, str(KAWASAKI))
    listed = api.get("/me/reserves", headers=resident).json()
    assert [(r["reserve_id"], r["deadline"]) for r in listed] == [
        (first["reserve_id"], first["deadline"])
    ]

    # d. a second conversion, placed in Toshima with the card (PIN + signature through pcscd)
    second = convert(journey, partner, mykey_id, CONVERTED_PLACED)
    placed_in_toshima = place(journey, resident, second["reserve_id"], TOSHIMA)
    assert placed_in_toshima["municipality_code"] == str(TOSHIMA)
    assert pending_reserve_ids(journey, resident) == [first["reserve_id"]]
    assert balances(journey, resident) == {TOSHIMA: CONVERTED_PLACED, KAWASAKI: GRANTED}
    # the resident's half of placing the first reserve, signed by the card now, sent too late
    late_statement = api.post(
        f"/me/reserves/{first['reserve_id']}/placement-statements",
        json={"municipality_code": f"{TOSHIMA:05d}"},
        headers=resident,
    ).json()
    late_answer = {"challenge_id": late_statement["challenge_id"]} | journey.card.answer(
        b64url_decode(late_statement["statement"])
    )
    # the platform's half of a placement, signed now and held until after the move
    held = side.attestor.attest(
        action=Action.PLACE_RESERVE,
        mykey_id=mykey_id,
        municipality=KAWASAKI,
        amount=CONVERTED_AFTER,
        business=0,
        evidence=b"placement statement signed before the clock moved",
    )

    # e. 14 days + 1 s later: the unplaced reserve is home at once, before anyone sweeps
    head_time = journey.move_block_time(RESERVE_PERIOD_SECONDS + 1)
    assert head_time > first["deadline"]
    assert held.attestation.deadline < head_time
    assert api.get("/me", headers=resident).status_code == 401  # that session ended on day 0
    resident = login(journey, mykey_id)
    too_late = api.post(
        f"/me/reserves/{first['reserve_id']}/placements", json=late_answer, headers=resident
    )
    assert too_late.status_code == 410, too_late.text
    assert too_late.json()["type"].endswith("challenge-expired")
    assert balances(journey, resident) == {
        TOSHIMA: CONVERTED_PLACED,
        KAWASAKI: GRANTED + CONVERTED_HOME,
    }
    assert side.ledger.reserve(first["reserve_id"]).state == RESERVE_PENDING  # not yet recorded
    assert pending_reserve_ids(journey, resident) == [first["reserve_id"]]
    swept = side.ledger.sweep_reserves(KAWASAKI)
    sweep_hash = tx_hash_of(swept)
    assert side.ledger.reserve(first["reserve_id"]).state == RESERVE_GONE_HOME
    assert pending_reserve_ids(journey, resident) == []
    assert balances(journey, resident)[KAWASAKI] == GRANTED + CONVERTED_HOME

    # refusal: a placement attestation made before the move is expired on the chain's clock
    partner = staff(journey, "partner-operator", str(partner_id))
    third = convert(journey, partner, mykey_id, CONVERTED_AFTER)
    assert third["deadline"] > head_time  # pending and not due: only the attestation is stale
    with pytest.raises(AttestationRefused) as refused:
        side.ledger.place_reserve(third["reserve_id"], held)
    assert refused.value.extensions["ledger_error"] == "AttestationExpired"
    assert side.ledger.reserve(third["reserve_id"]).state == RESERVE_PENDING
    # ... while a fresh one, signed on the API's moved clock, is accepted
    placed_at_home = place(journey, resident, third["reserve_id"], KAWASAKI)
    assert side.ledger.reserve(third["reserve_id"]).state == RESERVE_PLACED
    kawasaki_balance = GRANTED + CONVERTED_HOME + CONVERTED_AFTER
    assert balances(journey, resident)[KAWASAKI] == kawasaki_balance

    # f. redemption at the store with card + PIN: receipt balance = the balance endpoint's
    opened = journey.terminal_call(
        store_terminal, "POST", "/terminal/v1/redemptions", {"amount": REDEEMED}
    )
    assert opened.status_code == 201, opened.text
    statement = b64url_decode(opened.json()["statement"])
    assert f"amount={REDEEMED}".encode() in statement
    redeemed = journey.terminal_call(
        store_terminal,
        "POST",
        f"/terminal/v1/redemptions/{opened.json()['action_id']}/card-answer",
        journey.card.answer(statement),
    )
    assert redeemed.status_code == 200, redeemed.text
    receipt = redeemed.json()
    assert receipt["municipality_code"] == str(KAWASAKI)  # home first
    assert receipt["remaining_balance"] == kawasaki_balance - REDEEMED
    assert balances(journey, resident)[KAWASAKI] == receipt["remaining_balance"]
    refund = journey.terminal_call(
        store_terminal,
        "POST",
        "/terminal/v1/refunds",
        {"redemption_id": receipt["redemption_id"], "amount": REFUNDED},
    )
    assert refund.status_code == 201, refund.text
    assert balances(journey, resident)[KAWASAKI] == kawasaki_balance - REDEEMED + REFUNDED

    # g. the treasurer's statement = the indexed events = the chain, traceable to this journey
    treasurer = staff(journey, "treasurer", str(KAWASAKI))
    period = api.get("/treasurers/periods/current", headers=treasurer).json()["period"]
    kawasaki = api.get(f"/treasurers/periods/{period}/statement", headers=treasurer)
    assert kawasaki.status_code == 200, kawasaki.text
    result = kawasaki.json()
    (payable, business_tx), (receivable, partner_tx) = indexed_statement(journey, KAWASAKI, period)
    assert result["matches_chain"] is True
    assert {line["business"]: line["payable"] for line in result["businesses"]} == dict(payable)
    assert {line["partner"]: line["receivable"] for line in result["partners"]} == dict(receivable)
    (store_line,) = result["businesses"]
    assert store_line["business"] == store_id
    assert store_line["payable"] == store_line["on_chain"] == REDEEMED - REFUNDED
    assert (
        set(store_line["transactions"])
        == business_tx[store_id]
        == {
            receipt["transaction_hash"],
            refund.json()["transaction_hash"],
        }
    )
    (partner_line,) = result["partners"]
    assert partner_line["partner"] == partner_id
    # the demo consortium's own waiting conversion (DEMOC003) went home in the same sweep
    demo_reserve = 1_000
    assert (
        partner_line["receivable"]
        == partner_line["on_chain"]
        == CONVERTED_HOME + CONVERTED_AFTER + demo_reserve
    )
    assert (
        set(partner_line["transactions"])
        == partner_tx[partner_id]
        == {
            sweep_hash,
            placed_at_home["transaction_hash"],
        }
    )
    assert result["total_payable"] == REDEEMED - REFUNDED
    reconciliation = api.get(f"/treasurers/periods/{period}/reconciliation", headers=treasurer)
    assert reconciliation.status_code == 200, reconciliation.text
    assert reconciliation.json()["ok"] is True and reconciliation.json()["differences"] == []
    # Toshima's treasurer sees the placed conversion as the partner's debt to Toshima
    toshima_treasurer = staff(journey, "treasurer", str(TOSHIMA))
    toshima_period = api.get("/treasurers/periods/current", headers=toshima_treasurer).json()[
        "period"
    ]
    toshima = api.get(
        f"/treasurers/periods/{toshima_period}/statement", headers=toshima_treasurer
    ).json()
    assert toshima["matches_chain"] is True
    assert [(p["partner"], p["receivable"], p["transactions"]) for p in toshima["partners"]] == [
        (partner_id, CONVERTED_PLACED, [placed_in_toshima["transaction_hash"]])
    ]

    # h. every notice sent exactly once; a restarted indexer and sender add and send nothing
    expected = Counter(
        {
            "mykey-id-registered": 1,
            "points-granted": 1,
            "points-converted": 3,
            "reserve-placed": 2,
            "reserve-went-home": 1,
        }
    )
    assert outbox_kinds(journey) == expected
    assert send_notices(journey) == expected.total() - 2
    assert mail_kinds(journey) == expected
    assert set(journey.smtp.handler.message_ids().values()) == {1}
    assert {str(m["To"]) for m in journey.smtp.handler.accepted} == {EMAIL}
    with journey.store.sessions() as db:
        assert set(db.scalars(select(OutboxMessage.state))) == {OutboxState.SENT}
    restarted_indexer = ChainIndexer(
        w3,
        demo.deployment,
        journey.store,
        now=journey.clock.now,
        after_store=ChainNoticeHook(mail_domain=MAIL_DOMAIN, now=journey.clock.now),
    )
    assert restarted_indexer.catch_up() == 0  # it resumes at the stored cursor
    with journey.store.sessions() as db, db.begin():  # and re-reading every event adds nothing
        every_event = list(db.scalars(select(ChainEvent)))
        assert len(every_event) > 0
        assert (
            enqueue_chain_notices(db, every_event, now=journey.clock.now(), mail_domain=MAIL_DOMAIN)
            == 0
        )
    assert outbox_kinds(journey) == expected
    again = journey.sender().run_once()
    assert (again.claimed, again.sent) == (0, 0)
    assert len(journey.smtp.handler.accepted) == expected.total()
    went_home = next(
        m for m in journey.smtp.handler.accepted if str(m["Message-ID"]) in went_home_ids(journey)
    )
    assert mykey_id in went_home.get_content()
    assert f"{CONVERTED_HOME:,}" in went_home.get_content()


def test_balances_answer_only_a_logged_in_resident(journey: Journey) -> None:
    response = journey.api.get("/me/balances")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
