"""A plain-Python model of the point ledger, for differential tests against the contracts.

It keeps the same state the contracts keep (lots per (MyKey ID, municipality), pending reserves,
redemptions, vouchers, recorded totals, settlement periods) and applies each operation at the
block time the chain executed it. Lazy rules (expiry, reserves going home at the deadline) are
evaluated on read exactly as the contracts' views do; recording them (pruning, homing) happens
only where the contracts record them. Regular accounts only; one partner at rate 1:1.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from contracts.domain import end_of_jst_day

DAY = 86_400
MAX_LOTS = 32


class Refused(Exception):
    """The model refuses what the contract must refuse; `name` is the contract's error."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass
class Reserve:
    mykey_id: str
    home: int
    amount: int
    deadline: int
    home_expires_at: int
    state: str = "pending"  # pending, placed, homed


@dataclass
class Redemption:
    mykey_id: str
    municipality: int
    business: int
    amount: int
    at: int
    refunded: int = 0


@dataclass
class Voucher:
    municipality: int
    amount: int
    expires_at: int
    redeemed: bool = False


@dataclass
class Totals:
    granted: int = 0
    converted: int = 0
    redeemed: int = 0
    refunded: int = 0
    vouchered: int = 0
    expired: int = 0
    vouchers_redeemed: int = 0


@dataclass
class PeriodTotals:
    redeemed: int = 0
    refunded: int = 0
    vouchers_redeemed: int = 0
    conversions: int = 0


@dataclass
class LedgerModel:
    validity_days: dict[int, int]
    voucher_validity_days: dict[int, int]
    refund_window: dict[int, int]
    reserve_period: int = 14 * DAY
    lots: dict[tuple[str, int], list[list[int]]] = field(default_factory=lambda: defaultdict(list))
    reserves: list[Reserve] = field(default_factory=list)
    pending: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    home_queue: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    last_deadline: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    redemptions: list[Redemption] = field(default_factory=list)
    vouchers: list[Voucher] = field(default_factory=list)
    totals: dict[int, Totals] = field(default_factory=lambda: defaultdict(Totals))
    period: dict[int, int] = field(default_factory=lambda: defaultdict(lambda: 1))
    periods: dict[tuple[int, int], PeriodTotals] = field(
        default_factory=lambda: defaultdict(PeriodTotals)
    )

    # ---- lots -------------------------------------------------------------------------------

    def _prune(self, mykey_id: str, m: int, now: int) -> None:
        lots = self.lots[(mykey_id, m)]
        while lots and lots[0][0] <= now:
            self.totals[m].expired += lots.pop(0)[1]

    def _credit(self, mykey_id: str, m: int, expires_at: int, amount: int, now: int) -> None:
        self._prune(mykey_id, m, now)
        if expires_at <= now:
            self.totals[m].expired += amount
            return
        lots = self.lots[(mykey_id, m)]
        i = len(lots)
        while i > 0 and lots[i - 1][0] > expires_at:
            i -= 1
        if i > 0 and lots[i - 1][0] == expires_at:
            lots[i - 1][1] += amount
        elif len(lots) == MAX_LOTS:
            lots[-1][1] += amount
            lots[-1][0] = max(lots[-1][0], expires_at)
        else:
            lots.insert(i, [expires_at, amount])

    def _debit(self, mykey_id: str, m: int, amount: int, now: int) -> None:
        self._prune(mykey_id, m, now)
        lots = self.lots[(mykey_id, m)]
        if sum(a for _, a in lots) < amount:
            raise Refused("InsufficientPoints")
        left = amount
        while left:
            if lots[0][1] > left:
                lots[0][1] -= left
                break
            left -= lots.pop(0)[1]

    def _expiry(self, m: int, now: int) -> int:
        return end_of_jst_day(now + self.validity_days[m] * DAY)

    # ---- reserves ---------------------------------------------------------------------------

    def _home(self, reserve_id: int, now: int) -> None:
        r = self.reserves[reserve_id]
        r.state = "homed"
        self._credit(r.mykey_id, r.home, r.home_expires_at, r.amount, now)
        self.totals[r.home].converted += r.amount
        self.periods[(r.home, self.period[r.home])].conversions += r.amount

    def _settle(self, mykey_id: str, now: int) -> None:
        pending = self.pending[mykey_id]
        i = 0
        while i < len(pending):
            if self.reserves[pending[i]].deadline <= now:
                self._home(pending[i], now)
                pending[i] = pending[-1]
                pending.pop()
            else:
                i += 1

    def sweep_reserves(self, m: int, now: int, max_steps: int = 64) -> bool:
        queue = self.home_queue[m]
        steps = 0
        while queue and steps < max_steps:
            r = self.reserves[queue[0]]
            if r.state == "pending":
                if r.deadline > now:
                    break
                self._home(queue[0], now)
                self.pending[r.mykey_id].remove(queue[0])
            queue.pop(0)
            steps += 1
        if not queue:
            return False
        head = self.reserves[queue[0]]
        return not (head.state == "pending" and head.deadline > now)

    # ---- operations (each at its block time `now`) --------------------------------------------

    def grant(self, mykey_id: str, m: int, amount: int, now: int) -> None:
        self._settle(mykey_id, now)
        self._credit(mykey_id, m, self._expiry(m, now), amount, now)
        self.totals[m].granted += amount

    def convert(self, mykey_id: str, home: int, amount: int, now: int) -> int:
        self._settle(mykey_id, now)
        if len(self.pending[mykey_id]) >= 8:
            raise Refused("TooManyPendingReserves")
        deadline = max(now + self.reserve_period, self.last_deadline[home])
        self.last_deadline[home] = deadline
        reserve_id = len(self.reserves)
        self.reserves.append(
            Reserve(
                mykey_id,
                home,
                amount,
                deadline,
                end_of_jst_day(deadline + self.validity_days[home] * DAY),
            )
        )
        self.pending[mykey_id].append(reserve_id)
        self.home_queue[home].append(reserve_id)
        return reserve_id

    def place(self, reserve_id: int, m: int, now: int) -> None:
        r = self.reserves[reserve_id]
        if r.state != "pending":
            raise Refused("ReserveNotPending")
        if r.deadline <= now:
            raise Refused("ReserveDeadlinePassed")
        r.state = "placed"
        self.pending[r.mykey_id].remove(reserve_id)
        self._settle(r.mykey_id, now)
        self._credit(r.mykey_id, m, self._expiry(m, now), r.amount, now)
        self.totals[m].converted += r.amount
        self.periods[(m, self.period[m])].conversions += r.amount

    def redeem(self, mykey_id: str, m: int, business: int, amount: int, now: int) -> int:
        self._settle(mykey_id, now)
        self._debit(mykey_id, m, amount, now)
        self.redemptions.append(Redemption(mykey_id, m, business, amount, now))
        self.totals[m].redeemed += amount
        self.periods[(m, self.period[m])].redeemed += amount
        return len(self.redemptions) - 1

    def refund(self, index: int, amount: int, now: int) -> None:
        r = self.redemptions[index]
        if now > r.at + self.refund_window[r.municipality]:
            raise Refused("RefundWindowPassed")
        if amount > r.amount - r.refunded:
            raise Refused("RefundExceedsRedemption")
        r.refunded += amount
        self._settle(r.mykey_id, now)
        self._credit(r.mykey_id, r.municipality, self._expiry(r.municipality, now), amount, now)
        self.totals[r.municipality].refunded += amount
        self.periods[(r.municipality, self.period[r.municipality])].refunded += amount

    def issue_voucher(self, mykey_id: str, m: int, amount: int, now: int) -> int:
        self._settle(mykey_id, now)
        self._debit(mykey_id, m, amount, now)
        self.vouchers.append(
            Voucher(m, amount, end_of_jst_day(now + self.voucher_validity_days[m] * DAY))
        )
        self.totals[m].vouchered += amount
        return len(self.vouchers) - 1

    def redeem_voucher(self, index: int, now: int) -> None:
        v = self.vouchers[index]
        if v.redeemed:
            raise Refused("VoucherAlreadyRedeemed")
        if now >= v.expires_at:
            raise Refused("VoucherExpired")
        v.redeemed = True
        self.totals[v.municipality].vouchers_redeemed += v.amount
        self.periods[(v.municipality, self.period[v.municipality])].vouchers_redeemed += v.amount

    def sweep_expired(self, mykey_id: str, m: int, now: int) -> None:
        self._settle(mykey_id, now)
        self._prune(mykey_id, m, now)

    def close_period(self, m: int, now: int) -> int:
        if self.sweep_reserves(m, now):
            raise Refused("ReservesDue")
        closed = self.period[m]
        self.period[m] = closed + 1
        return closed

    # ---- views (at time `now`, as the contracts' views) -------------------------------------

    def balance(self, mykey_id: str, m: int, now: int) -> int:
        balance = sum(amount for expires_at, amount in self.lots[(mykey_id, m)] if expires_at > now)
        for reserve_id in self.pending[mykey_id]:
            r = self.reserves[reserve_id]
            if r.home == m and r.deadline <= now < r.home_expires_at:
                balance += r.amount
        return balance

    def reserved(self, mykey_id: str, now: int) -> int:
        return sum(
            self.reserves[i].amount
            for i in self.pending[mykey_id]
            if self.reserves[i].deadline > now
        )

    def effective_converted(self, m: int, now: int) -> int:
        """Converted points as a reader sees them now: recorded plus gone home unrecorded."""
        lazy = sum(
            r.amount
            for r in self.reserves
            if r.state == "pending" and r.home == m and r.deadline <= now
        )
        return self.totals[m].converted + lazy

    def effective_expired(self, m: int, now: int) -> int:
        """Expired points as a reader sees them now: recorded plus expired but not yet swept."""
        unswept = sum(
            amount
            for (_, code), lots in self.lots.items()
            if code == m
            for expires_at, amount in lots
            if expires_at <= now
        )
        lazy = sum(
            r.amount
            for r in self.reserves
            if r.state == "pending" and r.home == m and r.home_expires_at <= now
        )
        return self.totals[m].expired + unswept + lazy
