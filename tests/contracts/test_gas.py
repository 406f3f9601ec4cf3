"""Gas is bounded whatever a holder's history: lots merge by day and are capped (MAX_LOTS),
pending reserves are capped (MAX_PENDING_RESERVES), so the worst case is a constant."""

from __future__ import annotations

from contracts.domain import Action, TerminalKind, Use
from tests.contracts.conftest import TimedHarness
from tests.contracts.harness import KAWASAKI

DAY = 86_400
WORST_CASE_GAS = 1_500_000
"""Far below the 30M block gas limit: hundreds of worst-case spends still fit in one block."""


def test_lots_are_capped_and_gas_stays_flat_with_history(timed: TimedHarness) -> None:
    resident = timed.new_resident(KAWASAKI)
    terminal = timed.municipality(KAWASAKI).management_terminal_key
    grant_gas = []
    for _ in range(40):  # 40 grants on 40 different days: more lots than the cap
        grant_gas.append(timed.client.grant(terminal, resident, KAWASAKI, 10, activity=1).gas_used)
        timed.advance(DAY)
    lots = timed.client.lots_of(resident, KAWASAKI)
    assert len(lots) == timed.client.call("PointLedger", "MAX_LOTS") == 32
    assert sum(amount for _, amount in lots) == 400
    assert max(grant_gas[32:]) <= max(grant_gas[:32])  # at the cap, a grant merges: no growth
    for _ in range(8):
        timed.client.convert(timed.demo.partner.admin_key, resident, 10)
    # Worst case spend: every lot consumed and 8 pending reserves scanned.
    attestation, signature = timed.attest(
        Action.REDEEM, resident, KAWASAKI, 400, business=timed.business_id("store")
    )
    spend = timed.client.redeem(
        timed.terminal("store", TerminalKind.POINT_USE), attestation, signature, use=Use.LOCAL_STORE
    )
    assert spend.gas_used < WORST_CASE_GAS
    assert timed.client.lots_of(resident, KAWASAKI) == []


def test_expired_history_is_pruned_in_bounded_gas(timed: TimedHarness) -> None:
    resident = timed.new_resident(KAWASAKI)
    terminal = timed.municipality(KAWASAKI).management_terminal_key
    for _ in range(32):
        timed.client.grant(terminal, resident, KAWASAKI, 5, activity=1)
        timed.advance(DAY)
    timed.advance(400 * DAY)  # everything expired
    # Eight reserves all due home at once: the worst case for the lazy evaluation.
    for _ in range(8):
        timed.client.convert(timed.demo.partner.admin_key, resident, 5)
    timed.advance(15 * DAY)
    sweep = timed.client.sweep_expired(timed.new_key(), resident, KAWASAKI)
    assert len(sweep.named("PointsExpired")) == 32
    assert len(sweep.named("ReservePlaced")) == 8
    assert sweep.gas_used < WORST_CASE_GAS
    assert timed.client.balance_of(resident, KAWASAKI) == 40
