"""Genesis validation, the node key, and init_datadir."""

from __future__ import annotations

import copy
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from node.chain import Chain, ChainNotInitialised, build_genesis_header
from node.genesis import (
    GenesisError,
    NodeKeyError,
    create_node_key,
    init_datadir,
    load_genesis,
    load_node_key,
    node_address,
    parse_genesis,
)
from node.ledger import open_ledger
from node.storage import MemoryStore
from tests.node.conftest import CHAIN_ID, GAS_LIMIT, genesis_document, validator_address


def test_valid_genesis_is_parsed() -> None:
    document = genesis_document(
        alloc={
            "0x" + "ab" * 20: {
                "balance": "1000",
                "nonce": "0x2",
                "code": "0x6000",
                "storage": {"0x01": "0x02"},
            }
        }
    )
    genesis = parse_genesis(document)
    assert genesis.chain_id == CHAIN_ID
    assert genesis.gas_limit == GAS_LIMIT
    assert genesis.qbft.block_period_seconds == 1
    account = genesis.alloc[b"\xab" * 20]
    assert (account.balance, account.nonce, account.code) == (1000, 2, b"\x60\x00")
    assert account.storage == {1: 2}
    assert genesis.validators == (validator_address(),)
    assert genesis.base_fee_per_gas == 0


def test_genesis_validators_are_sorted() -> None:
    members = [b"\x09" * 20, b"\x01" * 20]
    genesis = parse_genesis(genesis_document(validators=members))
    assert genesis.validators == (b"\x01" * 20, b"\x09" * 20)


def broken(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(genesis_document())
    change(document)
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "JSON object"),
        (broken(lambda d: d.pop("config")), "^config is missing"),
        (broken(lambda d: d["config"].pop("chainId")), r"config\.chainId is missing"),
        (broken(lambda d: d["config"].update(chainId="0xzz")), r"config\.chainId must be"),
        (broken(lambda d: d["config"].update(chainId=0)), r"config\.chainId must not be 0"),
        (broken(lambda d: d["config"].pop("qbft")), r"config\.qbft is missing"),
        (
            broken(lambda d: d["config"]["qbft"].update(blockperiodseconds=0)),
            r"config\.qbft\.blockperiodseconds must be at least 1",
        ),
        (
            broken(lambda d: d["config"]["qbft"].update(epochlength=-1)),
            r"config\.qbft\.epochlength must be between",
        ),
        (broken(lambda d: d.update(alloc=[])), "alloc must be an object"),
        (broken(lambda d: d["alloc"].update({"0x12": {}})), r"alloc\.0x12 \(address\) must be 20"),
        (
            broken(lambda d: d["alloc"].update({"0x" + "ab" * 20: {"balance": "lots"}})),
            r"alloc\.0x(ab)+\.balance must be",
        ),
        (
            broken(lambda d: d["alloc"].update({"0x" + "ab" * 20: {"code": "0xg0"}})),
            r"alloc\.0x(ab)+\.code is not valid hex",
        ),
        (
            broken(lambda d: d["alloc"].update({"0x" + "ab" * 20: {"colour": 1}})),
            r"alloc\.0x(ab)+ has unknown field",
        ),
        (broken(lambda d: d.pop("extraData")), "extraData is missing"),
        (broken(lambda d: d.update(extraData="0x1234")), "extraData: "),
        (
            broken(lambda d: d.update(extraData="0xe5a0" + "00" * 32 + "c0c080c0")),
            "lists no validators",
        ),
        (broken(lambda d: d.pop("gasLimit")), "gasLimit is missing"),
        (broken(lambda d: d.update(gasLimit="0x10")), "gasLimit must be at least 21000"),
        (broken(lambda d: d.update(baseFeePerGas="0x1")), "baseFeePerGas must be 0"),
        (broken(lambda d: d.update(mixHash="0x00")), "mixHash must be 32 bytes"),
    ],
)
def test_errors_name_the_field(document: Any, message: str) -> None:
    with pytest.raises(GenesisError, match=message):
        parse_genesis(document)


def test_load_genesis_reports_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "genesis.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(GenesisError, match="not valid JSON"):
        load_genesis(path)
    with pytest.raises(GenesisError, match="cannot read"):
        load_genesis(tmp_path / "absent.json")


def test_genesis_block_hash_is_keccak_of_header_with_verbatim_extra_data() -> None:
    genesis = parse_genesis(genesis_document())
    header = build_genesis_header(genesis, store_state=None)
    assert header.block_number == 0
    assert header.extra_data == genesis.extra_data
    import rlp
    from eth_hash.auto import keccak

    assert header.hash == keccak(rlp.encode(header))


def test_genesis_alloc_lands_in_state() -> None:
    document = genesis_document(
        alloc={"0x" + "ab" * 20: {"balance": "5", "code": "0x6001", "storage": {"0x3": "0x4"}}}
    )
    store = MemoryStore()
    genesis = parse_genesis(document)
    Chain.initialize(store, genesis)
    chain = Chain(store, genesis)
    address = b"\xab" * 20
    assert chain.balance(address, 0) == 5  # type: ignore[arg-type]
    assert chain.code(address, 0) == b"\x60\x01"  # type: ignore[arg-type]
    assert chain.storage_at(address, 3, 0) == 4  # type: ignore[arg-type]


def test_node_key_is_private_and_reloads(tmp_path: Path) -> None:
    key = create_node_key(tmp_path)
    path = tmp_path / "keys" / "node.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_node_key(tmp_path).secret == key.secret
    assert len(node_address(key)) == 20
    with pytest.raises(NodeKeyError, match="already exists"):
        create_node_key(tmp_path)


def test_bad_or_missing_node_key(tmp_path: Path) -> None:
    with pytest.raises(NodeKeyError, match="mykey node init"):
        load_node_key(tmp_path)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "node.key").write_text("abcd\n", encoding="ascii")
    with pytest.raises(NodeKeyError, match="32-byte hex"):
        load_node_key(tmp_path)


def test_init_datadir_then_open(tmp_path: Path, genesis_file: Path) -> None:
    datadir = tmp_path / "node"
    create_node_key(datadir, bytes.fromhex("11" * 32))  # the test validator's key
    init_datadir(datadir, genesis_file)
    assert json.loads((datadir / "genesis.json").read_text())["config"]["chainId"] == CHAIN_ID
    assert "[rpc]" in (datadir / "config.toml").read_text()
    ledger = open_ledger(datadir)
    try:
        assert ledger.chain.head().number == 0
        assert ledger.validator_address == validator_address()
        assert ledger.config.chain.block_period_seconds == 1.0
    finally:
        ledger.close()
    with pytest.raises(FileExistsError):
        init_datadir(datadir, genesis_file)


def test_init_datadir_creates_a_key_when_absent(tmp_path: Path, genesis_file: Path) -> None:
    init_datadir(tmp_path / "node", genesis_file)
    assert load_node_key(tmp_path / "node") is not None


def test_open_with_another_genesis_is_refused(tmp_path: Path, genesis_file: Path) -> None:
    datadir = tmp_path / "node"
    init_datadir(datadir, genesis_file)
    other = genesis_document()
    other["config"]["chainId"] = 9
    (datadir / "genesis.json").write_text(json.dumps(other), encoding="utf-8")
    with pytest.raises(ChainNotInitialised, match="another chain id"):
        open_ledger(datadir)
    richer = genesis_document(alloc={"0x" + "ab" * 20: {"balance": "1"}})
    (datadir / "genesis.json").write_text(json.dumps(richer), encoding="utf-8")
    with pytest.raises(ChainNotInitialised, match="holds genesis"):
        open_ledger(datadir)
