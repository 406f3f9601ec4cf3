"""Settlement: payables per business, receivables per partner, closed periods, payments."""

from __future__ import annotations

from contracts.domain import Action, SettlementSide, TerminalKind, Use
from contracts.transactions import address_of
from tests.contracts.conftest import TimedHarness
from tests.contracts.harness import KAWASAKI, TOSHIMA, Harness, refused


def test_statement_totals_equal_the_periods_events_and_closed_periods_never_change(
    ledger: Harness,
) -> None:
    kawasaki = ledger.municipality(KAWASAKI)
    period = ledger.client.current_period(KAWASAKI)
    start_block = ledger.w3.eth.block_number
    resident = ledger.new_resident(KAWASAKI)
    ledger.grant(resident, KAWASAKI, 5_000)
    store, museum = ledger.business_id("store"), ledger.business_id("museum")
    first = ledger.redeem(resident, KAWASAKI, 1_000).event("PointsRedeemed").args["redemptionId"]
    ledger.redeem(resident, KAWASAKI, 400, business="museum", use=Use.FACILITY)
    ledger.client.refund(ledger.terminal("store", TerminalKind.POINT_USE), first, 250)
    reserve = ledger.client.convert(ledger.demo.partner.admin_key, resident, 900)
    attestation, signature = ledger.attest(Action.PLACE_RESERVE, resident, KAWASAKI, 900)
    ledger.client.place_reserve(ledger.platform, reserve, attestation, signature)

    closed = ledger.client.close_period(kawasaki.admin_key, KAWASAKI, period).event("PeriodClosed")
    # The statement equals the sum of this period's events.
    logs = ledger.client.ledger.events.PointsRedeemed.get_logs(from_block=start_block)
    redeemed = sum(log["args"]["amount"] for log in logs if log["args"]["municipality"] == KAWASAKI)
    assert closed.args["redeemed"] == redeemed == 1_400
    assert closed.args["refunded"] == 250
    assert closed.args["conversions"] == 900
    assert ledger.client.payable_to(KAWASAKI, period, store) == 750
    assert ledger.client.payable_to(KAWASAKI, period, museum) == 400
    assert ledger.client.receivable_from(KAWASAKI, period, ledger.demo.partner.partner_id) == 900
    assert ledger.client.current_period(KAWASAKI) == period + 1

    # A refund after the close lands in the next period; the closed one stays as it was.
    ledger.client.refund(ledger.terminal("store", TerminalKind.POINT_USE), first, 100)
    assert ledger.client.payable_to(KAWASAKI, period, store) == 750
    assert ledger.client.period_totals(KAWASAKI, period + 1)["refunded"] == 100
    with refused("PeriodAlreadyClosed", "cannot change"):
        ledger.client.close_period(kawasaki.admin_key, KAWASAKI, period)

    # Payments: recorded once, in full, with the bank reference's hash.
    with refused("PaymentMismatch", "750 yen due"):
        ledger.client.record_payment(
            kawasaki.admin_key,
            KAWASAKI,
            period,
            side=SettlementSide.BUSINESS,
            counterparty=store,
            amount=700,
            bank_reference="TX-1",
        )
    paid = ledger.client.record_payment(
        kawasaki.admin_key,
        KAWASAKI,
        period,
        side=SettlementSide.BUSINESS,
        counterparty=store,
        amount=750,
        bank_reference="TX-1",
    )
    assert paid.event("PaymentRecorded").args["amount"] == 750
    with refused("PaymentAlreadyRecorded"):
        ledger.client.record_payment(
            kawasaki.admin_key,
            KAWASAKI,
            period,
            side=SettlementSide.BUSINESS,
            counterparty=store,
            amount=750,
            bank_reference="TX-2",
        )
    ledger.client.record_payment(
        kawasaki.admin_key,
        KAWASAKI,
        period,
        side=SettlementSide.PARTNER,
        counterparty=ledger.demo.partner.partner_id,
        amount=900,
        bank_reference="IN-7",
    )
    with refused("PeriodNotClosed"):
        ledger.client.record_payment(
            kawasaki.admin_key,
            KAWASAKI,
            period + 1,
            side=SettlementSide.BUSINESS,
            counterparty=store,
            amount=1,
            bank_reference="X",
        )


def test_only_the_municipalitys_treasurers_close_and_record(ledger: Harness) -> None:
    period = ledger.client.current_period(KAWASAKI)
    with refused("NotTreasurer", "14130"):
        ledger.client.close_period(ledger.municipality(TOSHIMA).admin_key, KAWASAKI, period)
    with refused("NotTreasurer"):
        ledger.client.close_period(ledger.demo.businesses["store"].admin_key, KAWASAKI, period)
    treasurer = ledger.new_key()
    from contracts.domain import Role

    ledger.client.set_member_account(
        ledger.municipality(KAWASAKI).admin_key, address_of(treasurer), Role.TREASURER
    )
    ledger.client.close_period(treasurer, KAWASAKI, period)


def test_only_the_ledger_writes_settlement_amounts(ledger: Harness) -> None:
    with refused("NotLedger"):
        ledger.client.send(
            ledger.platform, ledger.client.settlement.functions.recordRedemption(KAWASAKI, 1, 10)
        )


def test_closing_records_reserves_gone_home_at_their_deadline(timed: TimedHarness) -> None:
    kawasaki = timed.municipality(KAWASAKI)
    resident = timed.new_resident(KAWASAKI)
    timed.client.convert(timed.demo.partner.admin_key, resident, 640)
    timed.advance(15 * 86_400)
    period = timed.client.current_period(KAWASAKI)
    sent = timed.client.close_period(kawasaki.admin_key, KAWASAKI, period)
    assert sent.event("ReservePlaced").args["automatic"] is True
    assert sent.event("PeriodClosed").args["conversions"] == 640
    assert timed.client.receivable_from(KAWASAKI, period, timed.demo.partner.partner_id) == 640
