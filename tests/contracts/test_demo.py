"""`deploy_demo`: what `mykey dev` starts with."""

from __future__ import annotations

from web3 import Web3

from contracts.attestation import Attestation, new_nonce
from contracts.client import LedgerClient
from contracts.demo import demo_key, deploy_demo
from contracts.domain import Action, MunicipalityCode, MykeyId, Points, TerminalKind, Use
from tests.contracts.conftest import NodeChain


def test_demo_consortium_has_the_decks_municipalities_businesses_partner_and_residents(
    chain: NodeChain,
) -> None:
    demo = deploy_demo(chain.w3, chain.funder_key, gas_limit=3_000_000)
    client = LedgerClient(chain.w3, demo.deployment, gas_limit=3_000_000)
    assert set(demo.municipalities) == {14130, 13116}
    assert set(demo.businesses) == {"library", "museum", "store"}
    assert client.balance_of("DEMOA001", 14130) == 4_000
    assert client.balance_of("DEMOA001", 13116) == 5_000
    assert client.reserved_of("DEMOC003") == 1_000
    assert client.call("Consortium", "isVerifier", demo.verifier_address) is True
    store = demo.businesses["store"]
    assert (
        client.call(
            "Consortium",
            "terminal",
            Web3.to_checksum_address(
                __import__("eth_account")
                .Account.from_key(store.terminal_keys[TerminalKind.POINT_USE])
                .address
            ),
        )[0]
        == TerminalKind.POINT_USE
    )
    # The demo is usable end to end: DEMOA001 spends 500 of Toshima's points at the store.
    attestation = Attestation(
        action=Action.REDEEM,
        mykey_id=MykeyId("DEMOA001"),
        municipality=MunicipalityCode(13116),
        amount=Points(500),
        business=store.business_id,
        nonce=new_nonce(),
        deadline=chain.now() + 600,
        evidence_hash=b"\x01" * 32,
    )
    client.redeem(
        store.terminal_keys[TerminalKind.POINT_USE],
        attestation,
        client.sign(demo.verifier_key, attestation),
        use=Use.LOCAL_STORE,
    )
    assert client.balance_of("DEMOA001", 13116) == 4_500
    # Demo keys are throwaway and reproducible.
    assert demo_key("platform verifier") == demo.verifier_key
