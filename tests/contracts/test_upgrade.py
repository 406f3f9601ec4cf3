"""Upgrades (UUPS behind ERC-1967 proxies) keep every balance; only the platform upgrades."""

from __future__ import annotations

from contracts.deploy import upgrade
from contracts.domain import Action
from tests.contracts.harness import KAWASAKI, TOSHIMA, Harness, refused


def test_upgrade_keeps_balances_reserves_and_settlement(ledger: Harness) -> None:
    resident = ledger.new_resident(KAWASAKI)
    ledger.grant(resident, KAWASAKI, 1_200)
    ledger.redeem(resident, KAWASAKI, 200)
    ledger.client.convert(ledger.demo.partner.admin_key, resident, 300)
    before = (
        ledger.client.balance_of(resident, KAWASAKI),
        ledger.client.reserved_of(resident),
        ledger.client.lots_of(resident, KAWASAKI),
        ledger.client.totals_of(KAWASAKI),
    )
    assert ledger.client.version_of("PointLedger") == 1
    with refused("NotPlatform"):
        upgrade(
            ledger.w3,
            ledger.municipality(KAWASAKI).admin_key,
            ledger.client.address("PointLedger"),
            "PointLedgerV2",
        )
    upgrade(ledger.w3, ledger.platform, ledger.client.address("PointLedger"), "PointLedgerV2")
    assert ledger.client.version_of("PointLedger") == 2
    after = (
        ledger.client.balance_of(resident, KAWASAKI),
        ledger.client.reserved_of(resident),
        ledger.client.lots_of(resident, KAWASAKI),
        ledger.client.totals_of(KAWASAKI),
    )
    assert after == before
    # The upgraded ledger keeps working, attestations included (same EIP-712 domain: the proxy).
    ledger.redeem(resident, KAWASAKI, 500)
    assert ledger.client.balance_of(resident, KAWASAKI) == 500
    reserve = ledger.client.call("PointLedger", "pendingReserveIds", resident.encode())[0]
    attestation, signature = ledger.attest(Action.PLACE_RESERVE, resident, TOSHIMA, 300)
    ledger.client.place_reserve(ledger.platform, reserve, attestation, signature)
    assert ledger.client.balance_of(resident, TOSHIMA) == 300


def test_implementations_cannot_be_initialised_directly(ledger: Harness) -> None:
    from contracts.artifacts import load_artifact
    from contracts.transactions import address_of, deploy_contract

    implementation = deploy_contract(ledger.w3, ledger.platform, load_artifact("Consortium"))
    contract = ledger.w3.eth.contract(address=implementation, abi=load_artifact("Consortium").abi)
    with refused("InvalidInitialization", "already initialised"):
        ledger.client.send(
            ledger.platform, contract.functions.initialize(address_of(ledger.platform))
        )
    with refused("InvalidInitialization"):
        ledger.client.send(
            ledger.platform,
            ledger.client.consortium.functions.initialize(address_of(ledger.platform)),
        )
