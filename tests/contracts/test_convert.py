"""Convert: partners' points become reserved points; residents place them; one-way."""

from __future__ import annotations

from contracts.domain import Action
from tests.contracts.harness import KAWASAKI, TOSHIMA, Harness, refused


def _place(ledger: Harness, reserve_id: int, resident: str, code: int, amount: int):  # type: ignore[no-untyped-def]
    attestation, signature = ledger.attest(Action.PLACE_RESERVE, resident, code, amount)
    return ledger.client.place_reserve(ledger.platform, reserve_id, attestation, signature)


def test_conversion_lands_as_reserved_points_with_a_14_day_deadline(ledger: Harness) -> None:
    resident = ledger.new_resident(KAWASAKI)
    partner = ledger.demo.partner
    sent = ledger.client.send(
        partner.admin_key,
        ledger.client.ledger.functions.convert(resident.encode(), 1_500, b"\x01" * 32),
    )
    event = sent.event("PointsConverted")
    assert event.args["amount"] == 1_500
    assert event.args["homeMunicipality"] == KAWASAKI
    block_time = ledger.w3.eth.get_block(sent.block_number)["timestamp"]
    assert event.args["deadline"] == block_time + 14 * 86_400
    assert ledger.client.reserved_of(resident) == 1_500
    assert ledger.client.balance_of(resident, KAWASAKI) == 0


def test_resident_places_reserve_in_any_accepting_municipality_one_way(ledger: Harness) -> None:
    resident = ledger.new_resident(KAWASAKI)
    reserve = ledger.client.convert(ledger.demo.partner.admin_key, resident, 800)
    sent = _place(ledger, reserve, resident, TOSHIMA, 800)
    event = sent.event("ReservePlaced")
    assert (event.args["municipality"], event.args["automatic"]) == (TOSHIMA, False)
    assert ledger.client.balance_of(resident, TOSHIMA) == 800
    assert ledger.client.reserved_of(resident) == 0
    period = event.args["period"]
    assert ledger.client.receivable_from(TOSHIMA, period, ledger.demo.partner.partner_id) >= 800
    with refused("ReserveNotPending", "one-way"):
        _place(ledger, reserve, resident, KAWASAKI, 800)


def test_placing_needs_the_platform_an_attestation_and_an_accepting_municipality(
    ledger: Harness,
) -> None:
    resident = ledger.new_resident(KAWASAKI)
    reserve = ledger.client.convert(ledger.demo.partner.admin_key, resident, 300)
    attestation, signature = ledger.attest(Action.PLACE_RESERVE, resident, TOSHIMA, 300)
    with refused("NotPlatform"):
        ledger.client.place_reserve(ledger.demo.partner.admin_key, reserve, attestation, signature)
    wrong_amount, signature2 = ledger.attest(Action.PLACE_RESERVE, resident, TOSHIMA, 299)
    with refused("AttestationMismatch", "amount"):
        ledger.client.place_reserve(ledger.platform, reserve, wrong_amount, signature2)
    toshima = ledger.municipality(TOSHIMA)
    ledger.client.set_municipality_settings(
        toshima.admin_key,
        TOSHIMA,
        validity_days=365,
        voucher_validity_days=180,
        refund_window_seconds=7 * 86_400,
        accepts_conversions=False,
    )
    with refused("ConversionsNotAccepted", "13116"):
        ledger.client.place_reserve(ledger.platform, reserve, attestation, signature)
    with refused("ReserveUnknown"):
        ledger.client.place_reserve(ledger.platform, 10**9, attestation, signature)


def test_only_partner_accounts_convert_and_reserves_are_capped(ledger: Harness) -> None:
    resident = ledger.new_resident(KAWASAKI)
    with refused("NotPartnerAccount"):
        ledger.client.convert(ledger.municipality(KAWASAKI).admin_key, resident, 100)
    with refused("ZeroAmount"):
        ledger.client.convert(ledger.demo.partner.admin_key, resident, 0)
    limit = ledger.client.call("PointLedger", "MAX_PENDING_RESERVES")
    for _ in range(limit):
        ledger.client.convert(ledger.demo.partner.admin_key, resident, 10)
    with refused("TooManyPendingReserves", "place them first"):
        ledger.client.convert(ledger.demo.partner.admin_key, resident, 10)
    revoked = ledger.new_resident(KAWASAKI)
    ledger.client.revoke_mykey(ledger.platform, revoked)
    with refused("MykeyRevoked"):
        ledger.client.convert(ledger.demo.partner.admin_key, revoked, 10)
