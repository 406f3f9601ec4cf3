"""Gas of each point-ledger operation: typical (fresh resident) and worst case (full history).

Starts this project's dev node in a throwaway data dir (fast blocks and the dev-only block
clock, which moves time forward for the history), deploys the demo consortium and prints one line
per operation. Worst case: 32 lots (the cap) and 8 pending reserves.
Usage: .venv/bin/python -m bench.contract_gas
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from web3 import HTTPProvider, Web3
from web3.middleware import ExtraDataToPOAMiddleware

from contracts.attestation import Attestation, new_nonce
from contracts.client import LedgerClient, Sent
from contracts.demo import DemoConsortium, deploy_demo
from contracts.domain import (
    Action,
    MunicipalityCode,
    MykeyId,
    Points,
    SettlementSide,
    TerminalKind,
    Use,
)
from node.devmode import RunningNode, start_embedded

DAY = 86_400
KAWASAKI = MunicipalityCode(14130)
GAS = 3_000_000


class Bench:
    """The demo consortium on a dev node whose block clock the bench moves."""

    def __init__(self, node: RunningNode) -> None:
        self.w3 = Web3(HTTPProvider(node.http_url, request_kwargs={"timeout": 60}))
        self.w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
        self.key: str = node.dev_accounts[0].private_key
        self.demo: DemoConsortium = deploy_demo(self.w3, self.key, with_points=False, gas_limit=GAS)
        self.client = LedgerClient(self.w3, self.demo.deployment, gas_limit=GAS)
        self.store = self.demo.businesses["store"]
        self.kawasaki = self.demo.municipalities[KAWASAKI]

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def _dev(self, method: str, *params: Any) -> Any:
        answer = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in answer:
            raise RuntimeError(f"{method} failed: {answer['error']}")
        return answer["result"]

    def advance(self, seconds: int) -> None:
        """Mine an empty block `seconds` + 1 after the latest one (the dev clock)."""
        self._dev("evm_setNextBlockTimestamp", self.now() + seconds + 1)
        self._dev("evm_mine")

    def attest(
        self, action: Action, mykey_id: str, amount: int, business: int
    ) -> tuple[Attestation, bytes]:
        attestation = Attestation(
            action=action,
            mykey_id=MykeyId(mykey_id),
            municipality=KAWASAKI,
            amount=Points(amount),
            business=business,
            nonce=new_nonce(),
            deadline=self.now() + 600,
            evidence_hash=b"\x01" * 32,
        )
        return attestation, self.client.sign(self.demo.verifier_key, attestation)

    def redeem(self, mykey_id: str, amount: int) -> Sent:
        attestation, signature = self.attest(
            Action.REDEEM, mykey_id, amount, self.store.business_id
        )
        return self.client.redeem(
            self.store.terminal_keys[TerminalKind.POINT_USE],
            attestation,
            signature,
            use=Use.LOCAL_STORE,
        )


def measure(bench: Bench, mykey_id: str, label: str) -> list[tuple[str, int]]:
    """Run every operation once for `mykey_id`; return (operation, gas) pairs."""
    client, rows = bench.client, []
    rows.append(
        (
            "grant",
            client.grant(
                bench.kawasaki.mobile_terminal_key, mykey_id, KAWASAKI, 500, activity=1
            ).gas_used,
        )
    )
    convert = client.send(
        bench.demo.partner.admin_key,
        client.ledger.functions.convert(mykey_id.encode(), 100, b"\x00" * 32),
    )
    rows.append(("convert", convert.gas_used))
    reserve = int(convert.event("PointsConverted").args["reserveId"])
    attestation, signature = bench.attest(Action.PLACE_RESERVE, mykey_id, 100, 0)
    rows.append(
        (
            "placeReserve",
            client.place_reserve(bench.demo.platform_key, reserve, attestation, signature).gas_used,
        )
    )
    redeem = bench.redeem(mykey_id, 300)
    rows.append(("redeem", redeem.gas_used))
    redemption = int(redeem.event("PointsRedeemed").args["redemptionId"])
    rows.append(
        (
            "refund",
            client.refund(
                bench.store.terminal_keys[TerminalKind.POINT_USE], redemption, 100
            ).gas_used,
        )
    )
    attestation, signature = bench.attest(
        Action.ISSUE_VOUCHER, mykey_id, 100, bench.store.business_id
    )
    issued = client.issue_voucher(
        bench.store.terminal_keys[TerminalKind.VOUCHER_ISSUE], attestation, signature, b"\x02" * 32
    )
    rows.append(("issueVoucher", issued.gas_used))
    voucher = int(issued.event("VoucherIssued").args["voucherId"])
    rows.append(
        (
            "redeemVoucher",
            client.redeem_voucher(
                bench.store.terminal_keys[TerminalKind.POINT_USE],
                voucher,
                b"\x02" * 32,
                use=Use.LOCAL_STORE,
            ).gas_used,
        )
    )
    rows.append(("sweepExpired", client.sweep_expired(bench.key, mykey_id, KAWASAKI).gas_used))
    return [(f"{name} ({label})", gas) for name, gas in rows]


def main() -> None:
    with (
        tempfile.TemporaryDirectory(prefix="mykey-gas-") as datadir,
        start_embedded(Path(datadir), block_period=0.05) as node,
    ):
        report(Bench(node))


def report(bench: Bench) -> None:
    """Measure every operation on `bench` and print the table."""
    client = bench.client
    rows = [("registerMykey", client.register_mykey(bench.key, "BENCH001", KAWASAKI).gas_used)]
    rows += measure(bench, "BENCH001", "fresh resident")

    client.register_mykey(bench.key, "BENCH002", KAWASAKI)
    for _ in range(40):
        client.grant(bench.kawasaki.mobile_terminal_key, "BENCH002", KAWASAKI, 10, activity=1)
        bench.advance(DAY)
    for _ in range(7):
        client.convert(bench.demo.partner.admin_key, "BENCH002", 10)
    rows += measure(bench, "BENCH002", "32 lots, 7 reserves")
    rows.append(
        (
            "redeem all 32 lots",
            bench.redeem("BENCH002", client.balance_of("BENCH002", KAWASAKI)).gas_used,
        )
    )

    period = client.current_period(KAWASAKI)
    rows.append(
        ("closePeriod", client.close_period(bench.kawasaki.admin_key, KAWASAKI, period).gas_used)
    )
    payable = client.payable_to(KAWASAKI, period, bench.store.business_id)
    rows.append(
        (
            "recordPayment",
            client.record_payment(
                bench.kawasaki.admin_key,
                KAWASAKI,
                period,
                side=SettlementSide.BUSINESS,
                counterparty=bench.store.business_id,
                amount=payable,
                bank_reference="BANK-1",
            ).gas_used,
        )
    )
    width = max(len(name) for name, _ in rows)
    print(f"{'operation':<{width}}  gas")
    for name, gas in rows:
        print(f"{name:<{width}}  {gas:>9,}")


if __name__ == "__main__":
    main()
