"""Differential test: random transfers and blocks on the ledger against a dict of balances."""

from __future__ import annotations

import json

from eth_account import Account
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from node.chain import Chain
from node.config import NodeConfig
from node.genesis import parse_genesis
from node.ledger import build_ledger
from node.ports import Address, TxRejected
from node.storage import MemoryStore
from tests.node.conftest import RICH, TEST_USER_KEYS, TEST_VALIDATOR_KEY, genesis_document
from tests.node.helpers import sign

SENDERS = [Account.from_key(key) for key in TEST_USER_KEYS[:3]]
RECIPIENTS = [Address(bytes([0xA0 + index]) * 20) for index in range(3)]


def address_of(account: object) -> Address:
    return Address(bytes.fromhex(account.address[2:]))  # type: ignore[attr-defined]


class LedgerAgainstModel(RuleBasedStateMachine):
    """Balances and nonces on chain always equal a plain model of the mined transfers."""

    def __init__(self) -> None:
        super().__init__()
        genesis = parse_genesis(json.loads(json.dumps(genesis_document())))
        store = MemoryStore()
        Chain.initialize(store, genesis)
        self.ledger = build_ledger(store, genesis, NodeConfig(), TEST_VALIDATOR_KEY)
        self.now = 1_000.0
        self.balances: dict[bytes, int] = {address_of(a): RICH for a in SENDERS}
        self.balances.update(dict.fromkeys(RECIPIENTS, 0))
        self.pooled: dict[bytes, tuple[bytes, bytes, int]] = {}
        self.slots: dict[tuple[bytes, int], bytes] = {}  # (sender, nonce) -> pooled hash
        self.nonces = dict.fromkeys((address_of(a) for a in SENDERS), 0)

    @rule(
        sender=st.integers(0, len(SENDERS) - 1),
        recipient=st.integers(0, len(RECIPIENTS) - 1),
        value=st.integers(0, 10**6),
        skip=st.integers(0, 2),
    )
    def submit(self, sender: int, recipient: int, value: int, skip: int) -> None:
        account = SENDERS[sender]
        nonce = self.ledger.txpool.pending_nonce(address_of(account)) + (1 if skip == 2 else 0)
        raw = sign(account, nonce=nonce, to=RECIPIENTS[recipient], value=value, gas=21000)
        try:
            tx_hash = self.ledger.txpool.submit(raw)
        except TxRejected as error:
            assert error.reason == "already-known"
            return
        replaced = self.slots.pop((address_of(account), nonce), None)
        if replaced is not None:  # same sender and nonce: the pool keeps only the newer one
            del self.pooled[replaced]
        self.slots[(address_of(account), nonce)] = tx_hash
        self.pooled[tx_hash] = (address_of(account), RECIPIENTS[recipient], value)

    @rule()
    def produce(self) -> None:
        self.now += 1
        block = self.ledger.produce_block(self.now)
        if block is None:
            return
        for tx in block.transactions:
            sender, recipient, value = self.pooled.pop(tx.hash)
            del self.slots[(sender, tx.nonce)]
            self.balances[sender] -= value
            self.balances[recipient] += value
            assert tx.nonce == self.nonces[sender]
            self.nonces[sender] += 1

    @invariant()
    def chain_matches_model(self) -> None:
        head = self.ledger.chain.head().number
        for address, balance in self.balances.items():
            assert self.ledger.chain.balance(Address(address), head) == balance
        for address, nonce in self.nonces.items():
            assert self.ledger.chain.nonce(Address(address), head) == nonce
        assert self.ledger.txpool.pending_count() == len(self.pooled)

    def teardown(self) -> None:
        self.ledger.close()


TestLedgerAgainstModel = LedgerAgainstModel.TestCase
TestLedgerAgainstModel.settings = settings(max_examples=15, stateful_step_count=25, deadline=None)
