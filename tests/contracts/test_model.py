"""Differential property test: the contracts and the plain-Python model, same random operations
and clock jumps, agree after every step on balances, reserves, expiry, vouchers and settlement,
and per municipality granted + converted - redeemed + refunded - vouchered - expired = outstanding.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from contracts.client import Sent
from contracts.domain import Action, TerminalKind, Use
from contracts.errors import LedgerRevert
from contracts.transactions import TransactionFailed
from tests.contracts.conftest import NodeChain, TimedHarness
from tests.contracts.harness import KAWASAKI, TOSHIMA
from tests.contracts.model import DAY, LedgerModel, Refused

CODES = (KAWASAKI, TOSHIMA)
SETTINGS = {
    KAWASAKI: (30, 20, 3 * DAY),
    TOSHIMA: (10, 5, DAY),
}  # validity, voucher validity, refund window
JUMPS = st.sampled_from([1, 600, 3600, DAY, 3 * DAY, 9 * DAY, 15 * DAY, 40 * DAY])
AMOUNTS = st.integers(min_value=1, max_value=1_500)


class LedgerComparison(RuleBasedStateMachine):
    """One example: a fresh deployment and fresh residents on the node, time moving forward."""

    deploy: Callable[[], TimedHarness]

    def __init__(self) -> None:
        super().__init__()
        self.harness = self.deploy()
        assert self.harness.chain is not None
        self.chain: NodeChain = self.harness.chain
        # Run ahead of the wall clock, so block times depend only on the steps (replayable).
        self.chain.advance(6 * 3600)
        h = self.harness
        for code, (validity, voucher_validity, window) in SETTINGS.items():
            h.client.set_municipality_settings(
                h.municipality(code).admin_key,
                code,
                validity_days=validity,
                voucher_validity_days=voucher_validity,
                refund_window_seconds=window,
                accepts_conversions=True,
            )
        self.residents = [
            h.new_resident(KAWASAKI),
            h.new_resident(TOSHIMA),
            h.new_resident(KAWASAKI),
        ]
        self.model = LedgerModel(
            validity_days={c: s[0] for c, s in SETTINGS.items()},
            voucher_validity_days={c: s[1] for c, s in SETTINGS.items()},
            refund_window={c: s[2] for c, s in SETTINGS.items()},
        )
        self.homes = {
            self.residents[0]: KAWASAKI,
            self.residents[1]: TOSHIMA,
            self.residents[2]: KAWASAKI,
        }
        self.chain_reserves: list[int] = []
        self.chain_redemptions: list[int] = []
        self.chain_vouchers: list[int] = []
        self.store = h.business_id("store")
        self.start_periods = {code: h.client.current_period(code) for code in CODES}

    # ---- the differential step ---------------------------------------------------------------

    def act(
        self, on_chain: Callable[[], Sent], in_model: Callable[[int], Any]
    ) -> tuple[Sent, Any] | None:
        latest = self.chain.now()
        saved = copy.deepcopy(self.model)
        try:
            sent = on_chain()
        except (LedgerRevert, TransactionFailed) as error:
            # A simulated refusal happened at the latest block's time, a mined failure at the next.
            at = latest if isinstance(error, LedgerRevert) else latest + 1
            try:
                in_model(at)
            except Refused as refusal:
                self.model = saved
                if isinstance(error, LedgerRevert):
                    assert refusal.name == error.name, (refusal.name, error.message)
                return None
            raise AssertionError(f"the chain refused ({error}) what the model accepts") from error
        block_time = int(self.harness.w3.eth.get_block(sent.block_number)["timestamp"])
        try:
            return sent, in_model(block_time)
        except Refused as refusal:
            raise AssertionError(
                f"the chain accepted what the model refuses: {refusal.name}"
            ) from None

    # ---- rules ------------------------------------------------------------------------------

    @rule(who=st.integers(0, 2), code=st.sampled_from(CODES), amount=AMOUNTS)
    def grant(self, who: int, code: int, amount: int) -> None:
        h, r = self.harness, self.residents[who]
        terminal = h.municipality(code).management_terminal_key
        self.act(
            lambda: h.client.grant(terminal, r, code, amount, activity=1),
            lambda t: self.model.grant(r, code, amount, t),
        )

    @rule(who=st.integers(0, 2), amount=AMOUNTS)
    def convert(self, who: int, amount: int) -> None:
        h, r = self.harness, self.residents[who]

        def on_chain() -> Sent:
            return h.client.send(
                h.demo.partner.admin_key,
                h.client.ledger.functions.convert(r.encode(), amount, b"\x00" * 32),
            )

        done = self.act(on_chain, lambda t: self.model.convert(r, self.homes[r], amount, t))
        if done is not None:
            sent, model_id = done
            assert model_id == len(self.chain_reserves)
            self.chain_reserves.append(int(sent.event("PointsConverted").args["reserveId"]))

    @rule(pick=st.integers(0, 50), code=st.sampled_from(CODES))
    def place(self, pick: int, code: int) -> None:
        if not self.chain_reserves:
            return
        index = pick % len(self.chain_reserves)
        reserve = self.model.reserves[index]
        h = self.harness
        attestation, signature = h.attest(
            Action.PLACE_RESERVE, reserve.mykey_id, code, reserve.amount
        )
        self.act(
            lambda: h.client.place_reserve(
                h.platform, self.chain_reserves[index], attestation, signature
            ),
            lambda t: self.model.place(index, code, t),
        )

    @rule(who=st.integers(0, 2), code=st.sampled_from(CODES), amount=AMOUNTS)
    def redeem(self, who: int, code: int, amount: int) -> None:
        h, r = self.harness, self.residents[who]
        done = self.act(
            lambda: h.redeem(r, code, amount),
            lambda t: self.model.redeem(r, code, self.store, amount, t),
        )
        if done is not None:
            self.chain_redemptions.append(int(done[0].event("PointsRedeemed").args["redemptionId"]))

    @rule(pick=st.integers(0, 50), amount=AMOUNTS)
    def refund(self, pick: int, amount: int) -> None:
        if not self.chain_redemptions:
            return
        index = pick % len(self.chain_redemptions)
        h = self.harness
        self.act(
            lambda: h.client.refund(
                h.terminal("store", TerminalKind.POINT_USE), self.chain_redemptions[index], amount
            ),
            lambda t: self.model.refund(index, amount, t),
        )

    @rule(who=st.integers(0, 2), code=st.sampled_from(CODES), amount=AMOUNTS)
    def issue_voucher(self, who: int, code: int, amount: int) -> None:
        h, r = self.harness, self.residents[who]
        attestation, signature = h.attest(
            Action.ISSUE_VOUCHER, r, code, amount, business=self.store
        )
        done = self.act(
            lambda: h.client.issue_voucher(
                h.terminal("store", TerminalKind.VOUCHER_ISSUE),
                attestation,
                signature,
                b"\x09" * 32,
            ),
            lambda t: self.model.issue_voucher(r, code, amount, t),
        )
        if done is not None:
            self.chain_vouchers.append(int(done[0].event("VoucherIssued").args["voucherId"]))

    @rule(pick=st.integers(0, 50))
    def redeem_voucher(self, pick: int) -> None:
        if not self.chain_vouchers:
            return
        index = pick % len(self.chain_vouchers)
        h = self.harness
        self.act(
            lambda: h.client.redeem_voucher(
                h.terminal("store", TerminalKind.POINT_USE),
                self.chain_vouchers[index],
                b"\x09" * 32,
                use=Use.LOCAL_STORE,
            ),
            lambda t: self.model.redeem_voucher(index, t),
        )

    @rule(who=st.integers(0, 2), code=st.sampled_from(CODES))
    def sweep_expired(self, who: int, code: int) -> None:
        h, r = self.harness, self.residents[who]
        self.act(
            lambda: h.client.sweep_expired(h.funder_key, r, code),
            lambda t: self.model.sweep_expired(r, code, t),
        )

    @rule(code=st.sampled_from(CODES))
    def sweep_reserves(self, code: int) -> None:
        h = self.harness
        self.act(
            lambda: h.client.sweep_reserves(h.funder_key, code),
            lambda t: self.model.sweep_reserves(code, t),
        )

    @rule(code=st.sampled_from(CODES))
    def close_period(self, code: int) -> None:
        h = self.harness
        period = h.client.current_period(code)
        self.act(
            lambda: h.client.close_period(h.municipality(code).admin_key, code, period),
            lambda t: self.model.close_period(code, t),
        )

    @rule(seconds=JUMPS)
    def advance(self, seconds: int) -> None:
        self.chain.advance(seconds)

    # ---- what must hold after every step ------------------------------------------------------

    @invariant()
    def agree(self) -> None:
        h, model, now = self.harness, self.model, self.chain.now()
        for code in CODES:
            outstanding = 0
            for r in self.residents:
                balance = h.client.balance_of(r, code)
                assert balance == model.balance(r, code, now), (r, code)
                stored = [tuple(lot) for lot in model.lots[(r, code)]]
                assert h.client.lots_of(r, code) == stored, (r, code)
                assert balance >= 0
                outstanding += balance
            recorded = h.client.totals_of(code)
            expected = model.totals[code]
            assert recorded == {
                "granted": expected.granted,
                "converted": expected.converted,
                "redeemed": expected.redeemed,
                "refunded": expected.refunded,
                "vouchered": expected.vouchered,
                "expired": expected.expired,
                "vouchersRedeemed": expected.vouchers_redeemed,
            }
            assert outstanding == (
                expected.granted
                + model.effective_converted(code, now)
                - expected.redeemed
                + expected.refunded
                - expected.vouchered
                - model.effective_expired(code, now)
            )
            # Settlement: the open period's totals, counted from this example's start.
            period = h.client.current_period(code)
            assert period - self.start_periods[code] + 1 == model.period[code]
            totals = h.client.period_totals(code, period)
            mine = model.periods[(code, model.period[code])]
            assert totals == {
                "redeemed": mine.redeemed,
                "refunded": mine.refunded,
                "vouchersRedeemed": mine.vouchers_redeemed,
                "conversions": mine.conversions,
            }
        for r in self.residents:
            assert h.client.reserved_of(r) == model.reserved(r, now)


def test_contracts_agree_with_the_model(deploy_timed: Callable[[], TimedHarness]) -> None:
    LedgerComparison.deploy = staticmethod(deploy_timed)
    run_state_machine_as_test(
        LedgerComparison,
        settings=settings(
            max_examples=4,  # each example is a fresh deployment on the node
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
