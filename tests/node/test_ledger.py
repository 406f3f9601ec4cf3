"""The Ledger facade: senders are recovered once, and threads may read while blocks are made."""

from __future__ import annotations

import threading

import coincurve
import pytest
from eth_account.signers.local import LocalAccount

from node.ledger import Ledger
from node.ports import Address, CallRequest
from tests.node.conftest import FakeClock
from tests.node.helpers import balance_data, deploy_points, grant_data, sign


def test_block_building_recovers_no_sender(
    ledger: Ledger, users: list[LocalAccount], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for nonce in range(5):
        ledger.txpool.submit(sign(users[0], nonce=nonce, to=b"\x11" * 20, gas=21000))
    typed = users[1].sign_transaction(
        {
            "type": 2,
            "nonce": 0,
            "to": "0x" + "11" * 20,
            "value": 0,
            "gas": 21000,
            "maxFeePerGas": 0,
            "maxPriorityFeePerGas": 0,
            "chainId": 1337,
        }
    )
    ledger.txpool.submit(bytes(typed.raw_transaction))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a transaction sender was recovered during block building")

    recoveries: list[bytes] = []
    original = coincurve.PublicKey.from_signature_and_message

    def counting(signature: bytes, message: bytes, hasher: object = None) -> coincurve.PublicKey:
        recoveries.append(message)
        return original(signature, message, hasher=None)

    monkeypatch.setattr(coincurve.PublicKey, "from_signature_and_message", counting)
    monkeypatch.setattr("eth_keys.datatypes.Signature.recover_public_key_from_msg_hash", refuse)
    monkeypatch.setattr("eth._utils.transactions.extract_transaction_sender", refuse)
    block = ledger.produce_block(clock.tick())
    assert block is not None and len(block.transactions) == 6
    assert len(recoveries) == 1  # the one commit seal checked on import; no sender at all
    assert ledger.chain.receipt(block.transactions[5].hash) is not None


def test_reads_from_threads_while_producing(
    ledger: Ledger, users: list[LocalAccount], clock: FakeClock
) -> None:
    contract = deploy_points(ledger, users[0], clock)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                head = ledger.chain.head()
                ledger.chain.call(
                    CallRequest(to=contract, data=balance_data(1, b"ABCDEFGH")), head.number
                )
                ledger.txpool.pending_count()
        except BaseException as error:  # collected and re-raised in the test thread
            errors.append(error)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    sender = Address(bytes.fromhex(users[1].address[2:]))
    for _ in range(5):
        for _ in range(4):
            nonce = ledger.txpool.pending_nonce(sender)
            ledger.txpool.submit(
                sign(users[1], nonce=nonce, to=contract, data=grant_data(1, b"ABCDEFGH", 1))
            )
        assert ledger.produce_block(clock.tick()) is not None
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
    output = ledger.chain.call(
        CallRequest(to=contract, data=balance_data(1, b"ABCDEFGH")), ledger.chain.head().number
    )
    assert int.from_bytes(output, "big") == 20


def test_listener_may_call_back_into_the_ledger(
    ledger: Ledger, users: list[LocalAccount], clock: FakeClock
) -> None:
    seen: list[int] = []

    def listener(block: object, logs: object) -> None:
        # Runs on another thread than a reader would; here we just call back in.
        done = threading.Event()

        def read() -> None:
            seen.append(ledger.chain.head().number)
            done.set()

        threading.Thread(target=read).start()
        assert done.wait(10), "the ledger lock was still held while listeners ran"

    ledger.chain.subscribe(listener)
    ledger.txpool.submit(sign(users[0], nonce=0, to=b"\x11" * 20, gas=21000))
    ledger.produce_block(clock.tick())
    assert seen == [1]
