"""The rules end to end through this project's node: real signed transactions over JSON-RPC,
receipts, eth_getLogs by MyKey ID and municipality topics, and revert data decoded into readable
refusals, on the session's demo deployment with the deck's points. (The full refusal matrix
runs on the same node with a fresh deployment per test; see conftest.py.)"""

from __future__ import annotations

import pytest
from eth_account import Account

from contracts.deploy import upgrade
from contracts.domain import Action, SettlementSide, TerminalKind, Use
from contracts.events import decode_logs, event_topic, municipality_topic, mykey_topic
from tests.contracts.harness import KAWASAKI, TOSHIMA, Harness, refused

pytestmark = pytest.mark.realstack


def test_demo_is_deployed_with_the_decks_balances(node_ledger: Harness) -> None:
    client = node_ledger.client
    assert node_ledger.w3.eth.get_code(client.address("PointLedger")) != b""
    assert client.balance_of("DEMOA001", KAWASAKI) == 4_000
    assert client.balance_of("DEMOA001", TOSHIMA) == 5_000
    assert client.reserved_of("DEMOC003") == 1_000


def test_grant_and_refusals_through_the_node(node_ledger: Harness) -> None:
    h = node_ledger
    resident = h.new_resident(KAWASAKI)
    sent = h.client.grant(
        h.municipality(KAWASAKI).mobile_terminal_key, resident, KAWASAKI, 300, activity=2
    )
    assert sent.receipt["status"] == 1
    assert sent.event("PointsGranted").args["amount"] == 300
    with refused("TerminalOfAnotherMember", "belongs to municipality 13116"):
        h.client.grant(
            h.municipality(TOSHIMA).mobile_terminal_key, resident, KAWASAKI, 1, activity=1
        )
    with refused("WrongTerminalKind"):
        h.client.grant(
            h.terminal("store", TerminalKind.POINT_USE), resident, KAWASAKI, 1, activity=1
        )
    with refused("UnregisteredTerminal"):
        h.client.grant(h.new_key(), resident, KAWASAKI, 1, activity=1)
    with refused("InvalidMykeyId", "upper-case letters or digits"):
        h.client.send(h.platform, h.client.registry.functions.register(b"bad-id!!", KAWASAKI))
    with refused("NotPlatform"):
        h.client.register_mykey(h.municipality(KAWASAKI).admin_key, "NODEX001", KAWASAKI)


def test_two_party_redeem_refund_and_events_by_topic(node_ledger: Harness) -> None:
    h = node_ledger
    resident = h.new_resident(KAWASAKI)
    h.grant(resident, KAWASAKI, 1_000)
    store = h.business_id("store")
    terminal = h.terminal("store", TerminalKind.POINT_USE)
    attestation, signature = h.attest(Action.REDEEM, resident, KAWASAKI, 400, business=store)
    redeemed = h.client.redeem(terminal, attestation, signature, use=Use.LOCAL_STORE)
    redemption = redeemed.event("PointsRedeemed").args["redemptionId"]
    with refused("AttestationNonceUsed"):
        h.client.redeem(terminal, attestation, signature, use=Use.LOCAL_STORE)
    forged = "0x" + bytes(Account.create().key).hex()
    fake, fake_signature = h.attest(
        Action.REDEEM, resident, KAWASAKI, 100, business=store, signer=forged
    )
    with refused("UnknownVerifier"):
        h.client.redeem(terminal, fake, fake_signature, use=Use.LOCAL_STORE)
    late, late_signature = h.attest(
        Action.REDEEM, resident, KAWASAKI, 100, business=store, deadline=h.now() - 1
    )
    with refused("AttestationExpired"):
        h.client.redeem(terminal, late, late_signature, use=Use.LOCAL_STORE)
    too_much, too_much_signature = h.attest(
        Action.REDEEM, resident, KAWASAKI, 10_000, business=store
    )
    with refused("InsufficientPoints", "has 600 points"):
        h.client.redeem(terminal, too_much, too_much_signature, use=Use.LOCAL_STORE)
    with refused("UnregisteredTerminal"):
        h.client.redeem(h.platform, too_much, too_much_signature, use=Use.LOCAL_STORE)
    h.client.refund(terminal, redemption, 150)
    assert h.client.balance_of(resident, KAWASAKI) == 750

    # eth_getLogs by MyKey ID topic and by municipality topic, decoded.
    logs = h.w3.eth.get_logs(
        {
            "fromBlock": h.client.deployment.block_number,
            "address": h.client.address("PointLedger"),
            "topics": [None, "0x" + mykey_topic(resident).hex()],
        }
    )
    names = [event.name for event in decode_logs(h.client.deployment, logs)]
    assert names == ["PointsGranted", "PointsRedeemed", "PointsRefunded"]
    by_municipality = h.w3.eth.get_logs(
        {
            "fromBlock": h.client.deployment.block_number,
            "address": h.client.address("PointLedger"),
            "topics": [
                "0x" + event_topic("PointLedger", "PointsRedeemed").hex(),
                None,
                "0x" + municipality_topic(KAWASAKI).hex(),
            ],
        }
    )
    assert redemption in [
        e.args["redemptionId"] for e in decode_logs(h.client.deployment, by_municipality)
    ]


def test_convert_place_voucher_pause_and_settlement(node_ledger: Harness) -> None:
    h = node_ledger
    resident = h.new_resident(KAWASAKI)
    reserve = h.client.convert(h.demo.partner.admin_key, resident, 900)
    attestation, signature = h.attest(Action.PLACE_RESERVE, resident, TOSHIMA, 900)
    placed = h.client.place_reserve(h.platform, reserve, attestation, signature).event(
        "ReservePlaced"
    )
    assert (placed.args["municipality"], placed.args["automatic"]) == (TOSHIMA, False)
    with refused("ReserveNotPending", "one-way"):
        h.client.place_reserve(h.platform, reserve, attestation, signature)

    store = h.business_id("store")
    secret = b"\x33" * 32
    voucher_attestation, voucher_signature = h.attest(
        Action.ISSUE_VOUCHER, resident, TOSHIMA, 200, business=store
    )
    voucher = (
        h.client.issue_voucher(
            h.terminal("store", TerminalKind.VOUCHER_ISSUE),
            voucher_attestation,
            voucher_signature,
            secret,
        )
        .event("VoucherIssued")
        .args["voucherId"]
    )
    h.client.set_paused(h.platform, TOSHIMA, True)
    with refused("MunicipalityPaused", "13116"):
        h.client.redeem_voucher(
            h.terminal("store", TerminalKind.POINT_USE), voucher, secret, use=Use.LOCAL_STORE
        )
    h.client.set_paused(h.platform, TOSHIMA, False)
    h.client.redeem_voucher(
        h.terminal("store", TerminalKind.POINT_USE), voucher, secret, use=Use.LOCAL_STORE
    )
    assert h.client.balance_of(resident, TOSHIMA) == 700

    toshima = h.municipality(TOSHIMA)
    period = h.client.current_period(TOSHIMA)
    closed = h.client.close_period(toshima.admin_key, TOSHIMA, period).event("PeriodClosed")
    assert closed.args["conversions"] >= 900
    assert closed.args["vouchersRedeemed"] >= 200
    with refused("PeriodAlreadyClosed", "cannot change"):
        h.client.close_period(toshima.admin_key, TOSHIMA, period)
    due = h.client.payable_to(TOSHIMA, period, store)
    h.client.record_payment(
        toshima.admin_key,
        TOSHIMA,
        period,
        side=SettlementSide.BUSINESS,
        counterparty=store,
        amount=due,
        bank_reference="N-1",
    )
    with refused("PaymentAlreadyRecorded"):
        h.client.record_payment(
            toshima.admin_key,
            TOSHIMA,
            period,
            side=SettlementSide.BUSINESS,
            counterparty=store,
            amount=due,
            bank_reference="N-2",
        )


def test_upgrade_on_the_node_keeps_balances(node_ledger: Harness) -> None:
    h = node_ledger
    before = (h.client.balance_of("DEMOA001", KAWASAKI), h.client.balance_of("DEMOA001", TOSHIMA))
    upgrade(h.w3, h.platform, h.client.address("PointLedger"), "PointLedgerV2")
    assert h.client.version_of("PointLedger") == 2
    assert (
        h.client.balance_of("DEMOA001", KAWASAKI),
        h.client.balance_of("DEMOA001", TOSHIMA),
    ) == before
