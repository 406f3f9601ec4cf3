"""Validator votes between real processes: a fifth node is voted in, seals, is voted out, stops.

The consortium's five nodes all hold validator certificates, but genesis names only four; the
fifth runs the same driver and only follows until three of the four (more than half) vote it in
through the authenticated admin endpoint. It then proposes blocks in its turn. Three votes to
drop it (more than half of five) take it out again, after which it neither proposes nor seals.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from network.genesis import consortium_genesis
from network.identity import NodeAddress
from tests.consortium.harness import (
    ConsortiumNodeDir,
    NodeProcess,
    make_consortium,
    start_all,
    wait_until,
)
from tests.consortium.test_faults import signers_by_block

Launch = Callable[[ConsortiumNodeDir], NodeProcess]


def restrict_genesis(folder: Path, nodes: list[ConsortiumNodeDir], validators: int) -> None:
    """Rewrite every genesis.json so that only the first `validators` nodes validate."""
    document = consortium_genesis(
        chain_id=1337,
        validators=[NodeAddress(node.address) for node in nodes[:validators]],
        block_period_seconds=1,
        request_timeout_seconds=1,
    )
    text = json.dumps(document, indent=2) + "\n"
    (folder / "genesis.json").write_text(text, encoding="utf-8")
    for node in nodes:
        (node.datadir / "genesis.json").write_text(text, encoding="utf-8")


def validators_now(process: NodeProcess) -> list[str]:
    """Return the validators after the head, as lower-case hex."""
    return [v.lower() for v in process.rpc("qbft_getValidatorsByBlockNumber", ["latest"])]


def miner(process: NodeProcess, number: int) -> str:
    """Return block `number`'s coinbase."""
    return str(process.rpc("eth_getBlockByNumber", [hex(number), False])["miner"]).lower()


def test_a_validator_voted_in_seals_and_voted_out_stops(tmp_path: Path, launch: Launch) -> None:
    folder = tmp_path / "net"
    nodes = make_consortium(folder, ["v1", "v2", "v3", "v4", "v5"])
    restrict_genesis(folder, nodes, 4)
    processes = [launch(node) for node in nodes]
    v1, v2, v3, v4, v5 = processes
    newcomer = "0x" + v5.address.hex()
    start_all(processes)
    wait_until(lambda: min(p.head() for p in processes) >= 1, 60, "blocks on all five nodes")
    assert newcomer not in validators_now(v1)

    with pytest.raises(urllib.error.HTTPError) as refused:  # no token, no vote
        request = urllib.request.Request(  # noqa: S310 (loopback http)
            v1.admin_url,
            b'{"jsonrpc":"2.0","id":1,"method":"qbft_getPendingVotes","params":[]}',
            {"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    assert refused.value.code == 401
    with pytest.raises(RuntimeError):  # and never on the public RPC port
        v1.rpc("qbft_proposeValidatorVote", [newcomer, True])

    for voter in (v1, v2, v3):
        assert voter.admin("qbft_proposeValidatorVote", [newcomer, True]) is True
    assert v1.admin("qbft_getPendingVotes") == {newcomer: True}
    wait_until(lambda: newcomer in validators_now(v4), 60, "the vote adding v5")
    added_at = v1.head()
    for voter in (v1, v2, v3):
        voter.admin("qbft_discardValidatorVote", [newcomer])
    wait_until(
        lambda: any(miner(v1, n) == newcomer for n in range(added_at + 1, v1.head() + 1)),
        60,
        "v5 proposing a block once voted in",
    )
    assert v5.admin("qbft_getRoundStatus")["isValidator"] is True

    for voter in (v1, v2, v3):
        voter.admin("qbft_proposeValidatorVote", [newcomer, False])
    wait_until(lambda: newcomer not in validators_now(v4), 60, "the vote dropping v5")
    dropped_at = v1.head()
    for voter in (v1, v2, v3):
        voter.admin("qbft_discardValidatorVote", [newcomer])
    wait_until(lambda: v1.head() >= dropped_at + 6, 60, "blocks going on without v5")
    assert all(miner(v1, n) != newcomer for n in range(dropped_at + 1, v1.head() + 1))

    for process in processes:
        process.stop()
    sealed = signers_by_block(nodes[0].datadir, added_at + 1)
    while_in = {n: found for n, found in sealed.items() if n <= dropped_at}
    assert any(coinbase == v5.address for coinbase, _ in while_in.values())
    # five validators: every block needs quorum(5) = 4 verified seals, v5 counted among them
    assert all(len(signers) >= 4 for _, signers in while_in.values())
    # each node stores the quorum it gathered itself; v5 must be in one of them somewhere
    gathered = [signers_by_block(node.datadir, added_at + 1) for node in nodes[:4]]
    assert any(
        v5.address in signers
        for stored in gathered
        for number, (_, signers) in stored.items()
        if number <= dropped_at
    ), "no node holds a block sealed by v5 while it was a validator"
    after = {n: found for n, found in sealed.items() if n > dropped_at + 1}
    assert after, "blocks were finalized after v5 was dropped"
    for number, (coinbase, signers) in after.items():
        assert v5.address not in signers and coinbase != v5.address, (
            f"v5 sealed or proposed block {number} after it was voted out"
        )
