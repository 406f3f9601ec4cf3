"""Rules that need days to pass, on the clock-controlled chain: expiry, reserve deadlines,
refund windows, voucher end dates, attestation deadlines."""

from __future__ import annotations

import datetime

from contracts.domain import Action, TerminalKind, Use, end_of_jst_day, fiscal_year
from tests.contracts.conftest import TimedHarness
from tests.contracts.harness import KAWASAKI, TOSHIMA, refused

DAY = 86_400
JST = datetime.timezone(datetime.timedelta(hours=9))


def test_expired_points_stop_counting_at_once_and_the_sweep_emits_events(
    timed: TimedHarness,
) -> None:
    resident = timed.new_resident(KAWASAKI)
    timed.grant(resident, KAWASAKI, 1_000)
    granted_at = timed.now()
    ((expires_at, amount),) = timed.client.lots_of(resident, KAWASAKI)
    assert amount == 1_000
    # Validity is 365 days, through the end of that JST day (contracts.domain mirrors Calendar.sol).
    assert expires_at == end_of_jst_day(granted_at + 365 * DAY)
    assert (expires_at + 9 * 3600) % DAY == 0
    timed.advance(expires_at - timed.now() - 1)
    assert timed.client.balance_of(resident, KAWASAKI) == 1_000
    timed.advance(1)
    assert timed.client.balance_of(resident, KAWASAKI) == 0  # nobody sent a transaction
    with refused("InsufficientPoints", "has 0 points"):
        timed.redeem(resident, KAWASAKI, 1)
    sent = timed.client.sweep_expired(timed.new_key(), resident, KAWASAKI)
    event = sent.event("PointsExpired")
    assert (event.args["mykeyId"], event.args["amount"], event.args["expiresAt"]) == (
        resident,
        1_000,
        expires_at,
    )
    assert timed.client.lots_of(resident, KAWASAKI) == []
    assert (
        timed.client.sweep_expired(timed.new_key(), resident, KAWASAKI).named("PointsExpired") == []
    )


def test_spending_consumes_the_earliest_expiring_lots_first(timed: TimedHarness) -> None:
    resident = timed.new_resident(KAWASAKI)
    timed.grant(resident, KAWASAKI, 100)
    timed.advance(3 * DAY)
    timed.grant(resident, KAWASAKI, 100)
    first, second = timed.client.lots_of(resident, KAWASAKI)
    timed.redeem(resident, KAWASAKI, 150)
    assert timed.client.lots_of(resident, KAWASAKI) == [(second[0], 50)]
    assert first[0] < second[0]


def test_lots_of_one_day_merge(timed: TimedHarness) -> None:
    resident = timed.new_resident(KAWASAKI)
    for _ in range(3):
        timed.grant(resident, KAWASAKI, 10)
    lots = timed.client.lots_of(resident, KAWASAKI)
    assert sum(amount for _, amount in lots) == 30
    assert len(lots) <= 2  # three grants seconds apart fall on one JST day (or straddle midnight)


def test_unplaced_reserve_counts_as_home_points_after_the_deadline_lazily(
    timed: TimedHarness,
) -> None:
    resident = timed.new_resident(TOSHIMA)
    partner = timed.demo.partner
    reserve = timed.client.convert(partner.admin_key, resident, 700)
    deadline = timed.client.call("PointLedger", "reserve", reserve)[5]
    timed.advance(deadline - timed.now() - 1)
    assert (timed.client.reserved_of(resident), timed.client.balance_of(resident, TOSHIMA)) == (
        700,
        0,
    )
    timed.advance(1)
    # Nobody sent a transaction: the views already show the home municipality's points.
    assert (timed.client.reserved_of(resident), timed.client.balance_of(resident, TOSHIMA)) == (
        0,
        700,
    )
    attestation, signature = timed.attest(Action.PLACE_RESERVE, resident, KAWASAKI, 700)
    with refused("ReserveDeadlinePassed", "belongs to the home municipality"):
        timed.client.place_reserve(timed.platform, reserve, attestation, signature)
    sent = timed.redeem(resident, TOSHIMA, 200)
    placed = sent.event("ReservePlaced")
    assert (placed.args["municipality"], placed.args["automatic"], placed.args["amount"]) == (
        TOSHIMA,
        True,
        700,
    )
    assert timed.client.balance_of(resident, TOSHIMA) == 500
    assert timed.client.totals_of(TOSHIMA)["converted"] == 700


def test_sweep_reserves_records_due_reserves_for_anyone(timed: TimedHarness) -> None:
    residents = [timed.new_resident(KAWASAKI) for _ in range(3)]
    for resident in residents:
        timed.client.convert(timed.demo.partner.admin_key, resident, 100)
    timed.advance(15 * DAY)
    sent = timed.client.sweep_reserves(timed.new_key(), KAWASAKI)
    assert sorted(e.args["mykeyId"] for e in sent.named("ReservePlaced")) == sorted(residents)
    assert all(timed.client.balance_of(r, KAWASAKI) == 100 for r in residents)


def test_refund_window_closes(timed: TimedHarness) -> None:
    resident = timed.new_resident(KAWASAKI)
    timed.grant(resident, KAWASAKI, 500)
    redemption = timed.redeem(resident, KAWASAKI, 300).event("PointsRedeemed").args["redemptionId"]
    timed.advance(7 * DAY + 1)
    with refused("RefundWindowPassed"):
        timed.client.refund(timed.terminal("store", TerminalKind.POINT_USE), redemption, 100)


def test_voucher_expires(timed: TimedHarness) -> None:
    resident = timed.new_resident(KAWASAKI)
    timed.grant(resident, KAWASAKI, 500)
    store = timed.business_id("store")
    attestation, signature = timed.attest(
        Action.ISSUE_VOUCHER, resident, KAWASAKI, 200, business=store
    )
    voucher = (
        timed.client.issue_voucher(
            timed.terminal("store", TerminalKind.VOUCHER_ISSUE),
            attestation,
            signature,
            b"\x05" * 32,
        )
        .event("VoucherIssued")
        .args["voucherId"]
    )
    timed.advance(181 * DAY)
    with refused("VoucherExpired"):
        timed.client.redeem_voucher(
            timed.terminal("store", TerminalKind.POINT_USE),
            voucher,
            b"\x05" * 32,
            use=Use.LOCAL_STORE,
        )


def test_attestation_deadline_is_checked_against_block_time(timed: TimedHarness) -> None:
    resident = timed.new_resident(KAWASAKI)
    timed.grant(resident, KAWASAKI, 500)
    store = timed.business_id("store")
    attestation, signature = timed.attest(
        Action.REDEEM, resident, KAWASAKI, 100, business=store, deadline=timed.now() + 60
    )
    timed.advance(120)
    with refused("AttestationExpired"):
        timed.client.redeem(
            timed.terminal("store", TerminalKind.POINT_USE),
            attestation,
            signature,
            use=Use.LOCAL_STORE,
        )


def test_event_account_points_expire_when_the_event_ends(timed: TimedHarness) -> None:
    kawasaki = timed.municipality(KAWASAKI)
    now = timed.now()
    account = timed.client.open_event_account(
        kawasaki.admin_key, KAWASAKI, now, now + 10 * DAY, 0b1
    )
    resident = timed.new_resident(KAWASAKI)
    timed.grant(resident, KAWASAKI, 300, account=account)
    assert timed.client.lots_of(resident, KAWASAKI, account)[0][0] == now + 10 * DAY
    timed.advance(10 * DAY)
    assert timed.client.balance_of(resident, KAWASAKI, account) == 0


def test_grant_budget_is_per_japanese_fiscal_year(timed: TimedHarness) -> None:
    kawasaki = timed.municipality(KAWASAKI)
    resident = timed.new_resident(KAWASAKI)
    year = fiscal_year(timed.now() + 1)
    timed.client.set_grant_budget(kawasaki.admin_key, KAWASAKI, year, 100)
    timed.grant(resident, KAWASAKI, 100)
    with refused("OverBudget", f"fiscal year {year}") as refusal:
        timed.grant(resident, KAWASAKI, 1)
    assert refusal.message
    # The next fiscal year starts on 1 April, 00:00 JST; its budget is separate (uncapped here).
    april_first = int(datetime.datetime(year + 1, 4, 1, tzinfo=JST).timestamp())
    timed.advance(april_first - timed.now() - 1)  # the chain is at 31 March 23:59:59 JST
    with refused("OverBudget"):
        timed.grant(resident, KAWASAKI, 1)
    timed.advance(1)  # 1 April 00:00:00 JST
    timed.grant(resident, KAWASAKI, 1)
    assert timed.client.call("PointLedger", "grantedInFiscalYear", KAWASAKI, year + 1) == 1
