"""Block production and import, chain reads, calls, logs and new-head events."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import coincurve
import pytest
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak

from node.chain import Chain, InvalidBlock
from node.config import ChainConfig, NodeConfig
from node.extradata import decode_extra_data
from node.header import MIX_HASH, QbftHeader
from node.ledger import Ledger, NotAValidator, seal_header
from node.ports import (
    AccountOverride,
    Address,
    BlockView,
    CallRequest,
    ExecutionFailed,
    ExecutionReverted,
    Hash32,
    LogEntry,
    LogQuery,
    UnknownBlock,
)
from node.seals import address_of
from tests.node.conftest import TEST_VALIDATOR_KEY, FakeClock, genesis_document, validator_address
from tests.node.helpers import (
    balance_data,
    deploy_points,
    event_topic,
    grant_data,
    redeem_data,
    sign,
)

MUNICIPALITY = 14130
MYKEY_ID = b"AB12CD34"
GRANTED = event_topic("Granted(uint32,bytes8,uint256)")


def address(account: LocalAccount) -> Address:
    return Address(bytes.fromhex(account.address[2:]))


def test_empty_pool_produces_nothing(ledger: Ledger, clock: FakeClock) -> None:
    assert ledger.produce_block(clock.tick()) is None
    assert ledger.chain.head().number == 0


def test_empty_blocks_when_configured(make_ledger: Callable[..., Ledger], clock: FakeClock) -> None:
    ledger = make_ledger(config=NodeConfig(chain=ChainConfig(1.0, empty_blocks=True)))
    block = ledger.produce_block(clock.tick())
    assert block is not None and block.number == 1 and block.transactions == ()
    assert block.state_root == ledger.chain.block_by_number(0).state_root  # type: ignore[union-attr]


def test_too_early_is_refused(ledger: Ledger, users: list[LocalAccount]) -> None:
    ledger.txpool.submit(sign(users[0], nonce=0, to=b"\x11" * 20, value=1, gas=21000))
    assert ledger.produce_block(-5.0) is None  # parent timestamp 0 + period 1 > now + 1


def test_transfer_block_fields_and_reads(
    ledger: Ledger, users: list[LocalAccount], clock: FakeClock
) -> None:
    recipient = Address(b"\x11" * 20)
    hashes = [
        ledger.txpool.submit(sign(users[0], nonce=n, to=recipient, value=7, gas=21000))
        for n in range(3)
    ]
    now = clock.tick()
    block = ledger.produce_block(now)
    assert block is not None
    genesis = ledger.chain.block_by_number(0)
    assert genesis is not None
    assert block.number == 1
    assert block.parent_hash == genesis.hash
    assert block.coinbase == validator_address()
    assert block.difficulty == 1
    assert block.mix_hash == MIX_HASH
    assert block.nonce == b"\x00" * 8
    assert block.base_fee_per_gas == 0
    assert block.timestamp == round(now)
    assert block.gas_used == 3 * 21000
    assert [tx.hash for tx in block.transactions] == hashes
    assert ledger.chain.block_by_hash(block.hash) == block
    assert ledger.chain.head() == block
    extra = decode_extra_data(block.extra_data)
    assert extra.validators == (validator_address(),)
    assert len(extra.seals) == 1
    assert ledger.chain.balance(recipient, 1) == 21
    assert ledger.chain.balance(recipient, 0) == 0
    assert ledger.chain.nonce(address(users[0]), 1) == 3
    tx = ledger.chain.transaction(hashes[1])
    assert tx is not None
    assert (tx.block_number, tx.transaction_index, tx.block_hash) == (1, 1, block.hash)
    assert tx.sender == address(users[0]) and tx.value == 7
    receipt = ledger.chain.receipt(hashes[2])
    assert receipt is not None
    assert (receipt.status, receipt.gas_used, receipt.cumulative_gas_used) == (1, 21000, 63000)
    assert ledger.chain.block_by_number(2) is None
    assert ledger.chain.transaction(Hash32(b"\x00" * 32)) is None
    with pytest.raises(UnknownBlock):
        ledger.chain.balance(recipient, 9)
    assert ledger.txpool.pending_count() == 0


def test_block_size_matches_rlp(
    ledger: Ledger, users: list[LocalAccount], clock: FakeClock
) -> None:
    import rlp

    raws = [
        sign(users[0], nonce=0, to=b"\x11" * 20, gas=21000),
        bytes(
            users[1]
            .sign_transaction(
                {
                    "type": 2,
                    "nonce": 0,
                    "to": "0x" + "22" * 20,
                    "value": 0,
                    "gas": 30000,
                    "maxFeePerGas": 0,
                    "maxPriorityFeePerGas": 0,
                    "chainId": 1337,
                    "data": b"\x01" * 100,
                }
            )
            .raw_transaction
        ),
    ]
    for raw in raws:
        ledger.txpool.submit(raw)
    block = ledger.produce_block(clock.tick())
    assert block is not None
    header = ledger.chain.header_by_number(1)
    items = [rlp.decode(raw) if raw[0] >= 0xC0 else raw for raw in raws]
    expected = len(rlp.encode([rlp.decode(rlp.encode(header)), items, [], []]))
    assert block.size == expected


def test_contract_deploy_call_logs_and_revert(
    ledger: Ledger, users: list[LocalAccount], clock: FakeClock
) -> None:
    contract = deploy_points(ledger, users[0], clock)
    assert len(ledger.chain.code(contract, 1)) > 0
    grant = ledger.txpool.submit(
        sign(users[0], nonce=1, to=contract, data=grant_data(MUNICIPALITY, MYKEY_ID, 500))
    )
    block = ledger.produce_block(clock.tick())
    assert block is not None
    receipt = ledger.chain.receipt(grant)
    assert receipt is not None and receipt.status == 1
    (entry,) = receipt.logs
    assert entry.address == contract
    assert entry.topics[0] == GRANTED
    assert int.from_bytes(entry.topics[1], "big") == MUNICIPALITY
    assert entry.topics[2] == MYKEY_ID + b"\x00" * 24
    assert int.from_bytes(entry.data, "big") == 500
    assert (entry.block_number, entry.log_index, entry.transaction_hash) == (2, 0, grant)
    output = ledger.chain.call(
        CallRequest(to=contract, data=balance_data(MUNICIPALITY, MYKEY_ID)), 2
    )
    assert int.from_bytes(output, "big") == 500
    assert (
        int.from_bytes(
            ledger.chain.call(
                CallRequest(to=contract, data=balance_data(MUNICIPALITY, MYKEY_ID)), 1
            ),
            "big",
        )
        == 0
    )
    # A custom error reverts with its ABI-encoded data.
    with pytest.raises(ExecutionReverted) as custom:
        ledger.chain.call(
            CallRequest(to=contract, data=redeem_data(MUNICIPALITY, MYKEY_ID, 900)), 2
        )
    selector = keccak(b"InsufficientPoints(uint256,uint256)")[:4]
    assert custom.value.data[:4] == selector
    assert int.from_bytes(custom.value.data[4:36], "big") == 500
    assert int.from_bytes(custom.value.data[36:68], "big") == 900
    # require(...) reverts with Error(string), and the message carries the reason.
    with pytest.raises(ExecutionReverted, match="points must be positive") as plain:
        ledger.chain.call(CallRequest(to=contract, data=grant_data(MUNICIPALITY, MYKEY_ID, 0)), 2)
    assert plain.value.data[:4] == bytes.fromhex("08c379a0")
    # A mined failing transaction has status 0.
    failing = ledger.txpool.submit(
        sign(users[0], nonce=2, to=contract, data=redeem_data(MUNICIPALITY, MYKEY_ID, 900))
    )
    ledger.produce_block(clock.tick())
    failed = ledger.chain.receipt(failing)
    assert failed is not None and failed.status == 0 and failed.logs == ()


def test_call_with_state_overrides(
    ledger: Ledger, users: list[LocalAccount], clock: FakeClock
) -> None:
    contract = deploy_points(ledger, users[0], clock)
    request = CallRequest(to=contract, data=balance_data(MUNICIPALITY, MYKEY_ID))
    # The balances mapping slot: keccak(key2 . keccak(key1 . 0)).
    inner = keccak(MUNICIPALITY.to_bytes(32, "big") + (0).to_bytes(32, "big"))
    slot = int.from_bytes(keccak(MYKEY_ID + b"\x00" * 24 + inner), "big")
    patched = {contract: AccountOverride(state_diff={slot: 42})}
    assert int.from_bytes(ledger.chain.call(request, 1, patched), "big") == 42
    replaced = {contract: AccountOverride(state={})}
    assert int.from_bytes(ledger.chain.call(request, 1, replaced), "big") == 0
    assert int.from_bytes(ledger.chain.call(request, 1), "big") == 0  # nothing was kept
    # Code override: a contract returning 0x2a for any call.
    returns_42 = bytes.fromhex("602a60005260206000f3")
    other = Address(b"\x77" * 20)
    output = ledger.chain.call(CallRequest(to=other), 1, {other: AccountOverride(code=returns_42)})
    assert int.from_bytes(output, "big") == 42
    poor = Address(b"\x66" * 20)
    with pytest.raises(ExecutionFailed):
        ledger.chain.call(CallRequest(sender=poor, to=other, value=5), 1)
    rich = ledger.chain.call(
        CallRequest(sender=poor, to=other, value=5), 1, {poor: AccountOverride(balance=10)}
    )
    assert rich == b""
    with pytest.raises(ExecutionFailed, match="both state and stateDiff"):
        ledger.chain.call(request, 1, {contract: AccountOverride(state={}, state_diff={})})


def test_estimate_gas_finds_the_least_gas(
    ledger: Ledger, users: list[LocalAccount], clock: FakeClock
) -> None:
    contract = deploy_points(ledger, users[0], clock)
    sender = address(users[0])
    request = CallRequest(sender=sender, to=contract, data=grant_data(MUNICIPALITY, MYKEY_ID, 5))
    estimate = ledger.chain.estimate_gas(request, 1)
    assert estimate > 21000
    with_estimate = CallRequest(sender=sender, to=contract, data=request.data, gas=estimate)
    ledger.chain.call(with_estimate, 1)
    too_little = CallRequest(sender=sender, to=contract, data=request.data, gas=estimate - 1)
    with pytest.raises((ExecutionFailed, ExecutionReverted)):
        ledger.chain.call(too_little, 1)
    assert (
        ledger.chain.estimate_gas(CallRequest(sender=sender, to=Address(b"\x11" * 20)), 1) == 21000
    )
    with pytest.raises(ExecutionReverted):
        ledger.chain.estimate_gas(
            CallRequest(sender=sender, to=contract, data=grant_data(MUNICIPALITY, MYKEY_ID, 0)), 1
        )


def test_logs_by_range_address_topics_and_hash(
    ledger: Ledger, users: list[LocalAccount], clock: FakeClock
) -> None:
    contract = deploy_points(ledger, users[0], clock)
    nonce = 1
    for municipality in (14130, 13116):
        for _ in range(2):
            ledger.txpool.submit(
                sign(users[0], nonce=nonce, to=contract, data=grant_data(municipality, MYKEY_ID, 3))
            )
            nonce += 1
        ledger.produce_block(clock.tick())
    everything = ledger.chain.logs(LogQuery(from_block=0, to_block=10))
    assert [(entry.block_number, entry.log_index) for entry in everything] == [
        (2, 0),
        (2, 1),
        (3, 0),
        (3, 1),
    ]
    second = Hash32((13116).to_bytes(32, "big"))
    matching = ledger.chain.logs(
        LogQuery(from_block=0, to_block=3, addresses=(contract,), topics=((GRANTED,), (second,)))
    )
    assert [entry.block_number for entry in matching] == [3, 3]
    assert (
        ledger.chain.logs(LogQuery(from_block=0, to_block=3, addresses=(Address(b"\x01" * 20),)))
        == []
    )
    assert ledger.chain.logs(LogQuery(from_block=3, to_block=2)) == []
    block3 = ledger.chain.block_by_number(3)
    assert block3 is not None
    by_hash = ledger.chain.logs(LogQuery(block_hash=block3.hash))
    assert len(by_hash) == 2
    with pytest.raises(UnknownBlock):
        ledger.chain.logs(LogQuery(block_hash=Hash32(b"\x09" * 32)))
    assert (
        ledger.chain.logs(LogQuery(from_block=0, to_block=3, topics=((Hash32(b"\x05" * 32),),)))
        == []
    )


def test_new_head_listeners(ledger: Ledger, users: list[LocalAccount], clock: FakeClock) -> None:
    seen: list[tuple[int, int]] = []

    def listener(block: BlockView, logs: Sequence[LogEntry]) -> None:
        seen.append((block.number, len(logs)))

    def broken(block: BlockView, logs: Sequence[LogEntry]) -> None:
        raise RuntimeError("subscriber bug")

    stop = ledger.chain.subscribe(listener)
    ledger.chain.subscribe(broken)
    contract = deploy_points(ledger, users[0], clock)
    ledger.txpool.submit(sign(users[0], nonce=1, to=contract, data=grant_data(1, MYKEY_ID, 1)))
    ledger.produce_block(clock.tick())
    stop()
    ledger.txpool.submit(sign(users[0], nonce=2, to=contract, data=grant_data(1, MYKEY_ID, 1)))
    ledger.produce_block(clock.tick())
    assert seen == [(1, 0), (2, 1)]
    assert ledger.chain.head().number == 3


def test_validators_at(ledger: Ledger, clock: FakeClock) -> None:
    assert ledger.chain.validators_at(0) == [validator_address()]
    with pytest.raises(UnknownBlock):
        ledger.chain.validators_at(5)


def test_blockhash_opcode_sees_qbft_hashes(
    make_ledger: Callable[..., Ledger], users: list[LocalAccount], clock: FakeClock
) -> None:
    ledger = make_ledger(config=NodeConfig(chain=ChainConfig(1.0, empty_blocks=True)))
    ledger.produce_block(clock.tick())
    ledger.produce_block(clock.tick())
    # PUSH1 1 BLOCKHASH PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
    code = bytes.fromhex("600140600052602060" + "00f3")
    target = Address(b"\x55" * 20)
    output = ledger.chain.call(CallRequest(to=target), 2, {target: AccountOverride(code=code)})
    block1 = ledger.chain.block_by_number(1)
    assert block1 is not None and output == block1.hash


TEST_KEYS = [coincurve.PrivateKey(bytes([0x50 + index]) * 32) for index in range(4)]


def four_validator_ledger(make_ledger: Callable[..., Ledger]) -> Ledger:
    members = [address_of(key.public_key) for key in TEST_KEYS]
    return make_ledger(genesis_document(validators=members), key=TEST_KEYS[0])


def build_and_seal(
    ledger: Ledger, users: list[LocalAccount], clock: FakeClock, signers: list[coincurve.PrivateKey]
) -> tuple[QbftHeader, list]:  # type: ignore[type-arg]
    if ledger.txpool.pending_count() == 0:
        ledger.txpool.submit(sign(users[0], nonce=0, to=b"\x11" * 20, value=3, gas=21000))
    candidates = ledger.txpool.select(30_000_000)
    coinbase = address_of(TEST_KEYS[1].public_key)
    built = ledger.chain.build_block(candidates, coinbase, round(clock.tick()))
    header = built.header
    for key in signers:
        header = seal_header(header, key)
    return header, built.transactions


def test_import_block_sealed_by_quorum_of_four(
    make_ledger: Callable[..., Ledger], users: list[LocalAccount], clock: FakeClock
) -> None:
    ledger = four_validator_ledger(make_ledger)
    header, transactions = build_and_seal(ledger, users, clock, TEST_KEYS[1:4])
    block = ledger.chain.import_block(header, transactions, clock.now)
    assert block.number == 1 and len(block.transactions) == 1
    assert block.coinbase == address_of(TEST_KEYS[1].public_key)
    assert ledger.chain.balance(Address(b"\x11" * 20), 1) == 3


def test_import_refuses_too_few_seals_and_bad_roots(
    make_ledger: Callable[..., Ledger], users: list[LocalAccount], clock: FakeClock
) -> None:
    ledger = four_validator_ledger(make_ledger)
    header, transactions = build_and_seal(ledger, users, clock, TEST_KEYS[1:3])
    with pytest.raises(InvalidBlock, match="3 of 4 needed"):
        ledger.chain.import_block(header, transactions, clock.now)
    unsealed, _ = build_and_seal(ledger, users, clock, [])
    wrong_root = unsealed.copy(state_root=b"\x01" * 32)
    for key in TEST_KEYS[:3]:
        wrong_root = seal_header(wrong_root, key)
    with pytest.raises(InvalidBlock, match="state root mismatch"):
        ledger.chain.import_block(wrong_root, transactions, clock.now)
    assert ledger.chain.head().number == 0
    # The single local seal of produce_block is not a quorum of four.
    with pytest.raises(InvalidBlock, match="commit seals"):
        ledger.produce_block(clock.tick())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"parent_hash": b"\x02" * 32}, "does not extend"),
        ({"mix_hash": b"\x00" * 32}, "mixHash"),
        ({"difficulty": 2}, "difficulty"),
        ({"coinbase": b"\x03" * 20}, "not a validator"),
        ({"timestamp": 0}, "block period"),
        ({"gas_limit": 20_000_000}, "gas limit"),
        ({"base_fee_per_gas": 7}, "base fee"),
    ],
)
def test_header_rules(
    make_ledger: Callable[..., Ledger],
    users: list[LocalAccount],
    clock: FakeClock,
    change: dict[str, object],
    message: str,
) -> None:
    ledger = four_validator_ledger(make_ledger)
    header, transactions = build_and_seal(ledger, users, clock, [])
    header = header.copy(**change)
    for key in TEST_KEYS[:3]:
        header = seal_header(header, key)
    with pytest.raises(InvalidBlock, match=message):
        ledger.chain.import_block(header, transactions, clock.now)


def test_future_timestamp_is_refused(
    make_ledger: Callable[..., Ledger], users: list[LocalAccount], clock: FakeClock
) -> None:
    ledger = four_validator_ledger(make_ledger)
    header, transactions = build_and_seal(ledger, users, clock, TEST_KEYS[:3])
    with pytest.raises(InvalidBlock, match="in the future"):
        ledger.chain.import_block(header, transactions, clock.now - 10)


def test_non_validator_node_cannot_produce(
    make_ledger: Callable[..., Ledger], users: list[LocalAccount], clock: FakeClock
) -> None:
    ledger = make_ledger(key=coincurve.PrivateKey(b"\x99" * 32))
    ledger.txpool.submit(sign(users[0], nonce=0, to=b"\x11" * 20, gas=21000))
    with pytest.raises(NotAValidator):
        ledger.produce_block(clock.tick())
    assert TEST_VALIDATOR_KEY is not None


def test_cached_views_equal_views_decoded_from_storage(
    ledger: Ledger, users: list[LocalAccount], clock: FakeClock
) -> None:
    contract = deploy_points(ledger, users[0], clock)
    hashes = [
        ledger.txpool.submit(
            sign(users[0], nonce=nonce, to=contract, data=grant_data(3, MYKEY_ID, nonce))
        )
        for nonce in range(1, 4)
    ]
    block = ledger.produce_block(clock.tick())
    assert block is not None
    fresh = Chain(ledger.store, ledger.chain.genesis)  # no cache: decodes what was stored
    assert fresh.block_by_number(2) == ledger.chain.block_by_number(2) == block
    for tx_hash in hashes:
        assert fresh.receipt(tx_hash) == ledger.chain.receipt(tx_hash)
        assert fresh.transaction(tx_hash) == ledger.chain.transaction(tx_hash)
    assert fresh.block_receipts(2) == ledger.chain.block_receipts(2)
