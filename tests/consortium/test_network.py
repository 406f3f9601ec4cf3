"""Four validators as separate processes on loopback over TLS: agreement, gossip, sync, refusal.

Each test starts real `python -m node.consortium_cli` processes on consortium data directories
made by `mykey net init`'s code, with a 1 s block period and 1 s round timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from eth_account import Account

from tests.consortium.harness import (
    ConsortiumNodeDir,
    NodeProcess,
    add_static_peer,
    make_consortium,
    p2p_endpoint,
    start_all,
    wait_until,
)

Launch = Callable[[ConsortiumNodeDir], NodeProcess]
TEST_CHAIN_ID = 1337


def agreed_hashes(processes: list[NodeProcess], up_to: int) -> list[str]:
    """Return the block hashes 1..up_to, asserting every process has the same ones."""
    hashes: list[str] = []
    for number in range(1, up_to + 1):
        seen = {process.node.name: process.block_hash(number) for process in processes}
        assert len(set(seen.values())) == 1, f"block {number} differs between nodes: {seen}"
        value = next(iter(seen.values()))
        assert value is not None
        hashes.append(value)
    return hashes


def signed_transfer(nonce: int) -> tuple[str, str]:
    """Return (raw hex, hash hex) of a zero-price transfer from a throwaway test key."""
    account = Account.from_key(b"\x11" * 32)  # a test-only key
    signed = account.sign_transaction(
        {
            "to": "0x000000000000000000000000000000000000dEaD",
            "value": 0,
            "gas": 21000,
            "gasPrice": 0,
            "nonce": nonce,
            "chainId": TEST_CHAIN_ID,
        }
    )
    return "0x" + signed.raw_transaction.hex(), "0x" + signed.hash.hex()


def test_four_validators_agree_mine_and_a_member_syncs_from_genesis(
    tmp_path: Path, launch: Launch
) -> None:
    nodes = make_consortium(
        tmp_path / "net", ["v1", "v2", "v3", "v4", "member:member"], chain_id=TEST_CHAIN_ID
    )
    validators = [launch(node) for node in nodes[:4]]
    start_all(validators)
    wait_until(lambda: min(p.head() for p in validators) >= 2, 60, "blocks on all validators")

    wait_until(
        lambda: all(int(p.rpc("net_peerCount"), 16) == 3 for p in validators),
        30,
        "every validator connected to the three others",
    )
    status = validators[1].rpc("qbft_getRoundStatus")
    assert status["isValidator"] is True and int(status["height"], 16) >= 2

    raw, tx_hash = signed_transfer(0)
    assert validators[0].rpc("eth_sendRawTransaction", [raw]) == tx_hash
    wait_until(
        lambda: validators[2].rpc("eth_getTransactionReceipt", [tx_hash]) is not None,
        30,
        "the transaction sent to v1 mined and visible on v3",
    )
    receipt = validators[2].rpc("eth_getTransactionReceipt", [tx_hash])
    assert receipt["status"] == "0x1"
    mined_in = int(receipt["blockNumber"], 16)
    wait_until(
        lambda: all(p.head() >= mined_in for p in validators), 30, "every validator at that block"
    )
    for process in validators:
        found = process.rpc("eth_getTransactionReceipt", [tx_hash])
        assert found["blockHash"] == receipt["blockHash"]

    member = launch(nodes[4])  # joins late: everything it has, it synced from its peers
    member.start()
    target = max(p.head() for p in validators)
    wait_until(lambda: member.head() >= target, 60, f"the member syncing to block {target}")
    later = max(p.head() for p in validators) + 2
    wait_until(lambda: member.head() >= later - 2, 30, "the member following the head")
    wait_until(lambda: min(p.head() for p in [*validators, member]) >= 8, 60, "eight blocks on all")
    top = min(p.head() for p in [*validators, member])
    assert top >= mined_in
    agreed_hashes([*validators, member], top)
    miners = {
        validators[0].rpc("eth_getBlockByNumber", [hex(n), False])["miner"]
        for n in range(1, top + 1)
    }
    assert len(miners) >= 3, f"proposers rotate among the validators, saw {miners}"
    assert member.rpc("eth_getTransactionReceipt", [tx_hash])["blockHash"] == receipt["blockHash"]


def test_a_strangers_node_is_refused(tmp_path: Path, launch: Launch) -> None:
    members = make_consortium(tmp_path / "net", ["v1"], chain_id=TEST_CHAIN_ID)
    # The stranger's own consortium (its own CA); its validator never runs, so any block the
    # stranger held would have come from our node.
    strangers = make_consortium(
        tmp_path / "other", ["boss", "intruder:member"], chain_id=TEST_CHAIN_ID
    )
    add_static_peer(strangers[1].datadir, p2p_endpoint(members[0]))
    member, stranger = launch(members[0]), launch(strangers[1])
    start_all([member, stranger])

    def refusal_logged() -> bool:
        lines = [*member.log_lines, *stranger.log_lines]
        return any("refused" in line and "TLS handshake failed" in line for line in lines)

    wait_until(refusal_logged, 30, "the stranger's connection being refused with a logged reason")
    wait_until(lambda: member.head() >= 2, 30, "the consortium node going on alone")
    assert stranger.head() == 0  # it never got a block from the consortium
    assert stranger.rpc("net_peerCount") in ("0x0", 0)
