"""Execution: the engine's shortcuts change no result, and the base fee stays 0."""

from __future__ import annotations

from collections.abc import Callable

from eth.vm.forks.prague.state import PragueState
from eth_account.signers.local import LocalAccount

from node import fastrlp
from node.chain import Chain
from node.execution import PyEvmEngine, next_base_fee
from node.ledger import Ledger
from node.ports import Address
from node.storage import MemoryStore
from tests.node.conftest import FakeClock
from tests.node.helpers import deploy_points, grant_data, redeem_data, sign


def test_base_fee_stays_zero_even_for_full_blocks() -> None:
    assert next_base_fee(0, 30_000_000, 30_000_000) == 0
    assert next_base_fee(7, 0, 30_000_000) == 0


def test_ledger_state_matches_plain_prague_state(
    make_ledger: Callable[..., Ledger], users: list[LocalAccount], clock: FakeClock
) -> None:
    """Every block the optimised engine produced re-executes identically on plain py-evm.

    The reference runs on `PragueState` with py-trie's own pyrlp codec (node.fastrlp
    uninstalled), so the shortcuts in node.execution and node.fastrlp are both checked.
    """
    ledger = make_ledger()
    contract = deploy_points(ledger, users[0], clock)
    for round_number in range(3):
        nonce = ledger.txpool.pending_nonce(Address(bytes.fromhex(users[0].address[2:])))
        for index in range(40):  # many storage slots: branch, extension and leaf nodes
            ledger.txpool.submit(
                sign(
                    users[2],
                    nonce=round_number * 40 + index,
                    to=contract,
                    data=grant_data(index % 5, b"MK%06d" % (round_number * 40 + index), 3),
                )
            )
        ledger.txpool.submit(
            sign(users[0], nonce=nonce, to=contract, data=grant_data(7, b"ABCDEFGH", 5))
        )
        ledger.txpool.submit(
            sign(users[0], nonce=nonce + 1, to=contract, data=redeem_data(7, b"ABCDEFGH", 99))
        )  # reverts: status 0, still mined
        ledger.txpool.submit(
            sign(users[1], nonce=round_number, to=b"\x12" * 20, value=3, gas=21000, gasPrice=2)
        )  # pays a fee, so the coinbase account comes into existence
        assert ledger.produce_block(clock.tick()) is not None
    genesis = ledger.chain.genesis
    store = MemoryStore()
    Chain.initialize(store, genesis)
    reference = Chain(store, genesis, engine=PyEvmEngine(state_class=PragueState))
    fastrlp.uninstall()
    try:
        for number in range(1, ledger.chain.head().number + 1):
            header = ledger.chain.header_by_number(number)
            assert header is not None
            body = ledger.chain.block_transactions(header.hash)
            reference.import_block(header, body, float(header.timestamp))
    finally:
        fastrlp.install()
    assert reference.head_header.state_root == ledger.chain.head_header.state_root
    coinbase = ledger.validator_address
    assert reference.balance(coinbase, 4) == ledger.chain.balance(coinbase, 4) > 0
