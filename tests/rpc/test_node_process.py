"""A real `mykey node run` process on LevelDB, driven by web3.py and raw HTTP.

Proves: a contract deploy, calls, reverts, events through get_logs and filters, and WebSocket
subscriptions work through web3.py 8; every bad input of issue 2 gets its specific JSON-RPC
error while the node keeps serving and loses nothing it accepted; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3, Web3
from web3.contract import Contract
from web3.middleware import ExtraDataToPOAMiddleware
from web3.providers.persistent import WebSocketProvider
from web3.types import RPCEndpoint

from node.devmode import DEV_CHAIN_ID, DEV_VALIDATOR_PATH, derive_dev_key, dev_accounts
from tests.rpc.nodeproc import NodeProcess, mykey, replace_signature, write_dev_genesis

pytestmark = pytest.mark.realstack

ARTIFACT = json.loads(Path(__file__).with_name("counter_contract.json").read_text("utf-8"))
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
RECEIPT_TIMEOUT = 30


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    datadir = tmp_path / "node"
    genesis = write_dev_genesis(tmp_path, datadir)
    initialised = mykey("node", "init", "--datadir", str(datadir), "--genesis", str(genesis))
    assert initialised.returncode == 0, initialised.stderr
    assert "(validator) address: 0x" in initialised.stdout
    process = NodeProcess(datadir)
    try:
        yield process
    finally:
        code, errors = process.stop()
        assert code == 0, errors
        assert "Traceback" not in errors


def connect(url: str) -> Web3:
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
    # QBFT extraData is longer than 32 bytes, as on every Besu QBFT chain: web3.py's POA
    # middleware is the documented way to read such blocks.
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


def dev(index: int = 0) -> LocalAccount:
    account: LocalAccount = Account.from_key(dev_accounts(index + 1)[index].private_key)
    return account


def transact(w3: Web3, account: LocalAccount, tx: dict[str, Any]) -> Any:
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    return w3.eth.wait_for_transaction_receipt(tx_hash, RECEIPT_TIMEOUT, poll_latency=0.1)


def deploy_counter(w3: Web3, account: LocalAccount) -> Contract:
    factory = w3.eth.contract(abi=ARTIFACT["abi"], bytecode=ARTIFACT["bytecode"])
    tx = factory.constructor().build_transaction(
        {"from": account.address, "nonce": w3.eth.get_transaction_count(account.address)}
    )
    receipt = transact(w3, account, dict(tx))
    assert receipt["status"] == 1
    assert w3.eth.get_code(receipt["contractAddress"]) != b""
    contract: Contract = w3.eth.contract(address=receipt["contractAddress"], abi=ARTIFACT["abi"])
    return contract


def increment(w3: Web3, account: LocalAccount, counter: Contract, amount: int) -> Any:
    tx = counter.functions.increment(amount).build_transaction(
        {"from": account.address, "nonce": w3.eth.get_transaction_count(account.address, "pending")}
    )
    return transact(w3, account, dict(tx))


def raw_post(url: str, body: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def rpc(url: str, method: str, *params: Any) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    status, answer = raw_post(url, body.encode())
    assert status == 200
    return dict(answer)


def test_web3_deploys_calls_and_reads_events(node: NodeProcess) -> None:
    w3 = connect(node.http_url)
    account = dev(0)
    assert w3.eth.chain_id == DEV_CHAIN_ID
    assert w3.eth.get_balance(account.address) == 10_000 * 10**18
    counter = deploy_counter(w3, account)
    start = w3.eth.block_number
    event_filter = counter.events.Incremented.create_filter(from_block=start)
    block_filter = w3.eth.filter("latest")
    receipt = increment(w3, account, counter, 5)
    assert receipt["status"] == 1 and receipt["gasUsed"] > 21_000
    assert counter.functions.count().call() == 5
    assert counter.functions.count().call(block_identifier=start) == 0
    events = counter.events.Incremented().process_receipt(receipt)
    assert events[0]["args"]["amount"] == 5 and events[0]["args"]["by"] == account.address
    logs = counter.events.Incremented.get_logs(from_block=start)
    assert [log["args"]["newCount"] for log in logs] == [5]
    increment(w3, account, counter, 7)
    assert [e["args"]["newCount"] for e in event_filter.get_new_entries()] == [5, 12]
    assert event_filter.get_new_entries() == []
    assert [e["args"]["newCount"] for e in event_filter.get_all_entries()] == [5, 12]
    assert len(block_filter.get_new_entries()) >= 2
    block = w3.eth.get_block(receipt["blockNumber"], full_transactions=True)
    assert block["transactions"][0]["hash"] == receipt["transactionHash"]  # type: ignore[call-overload]
    validator = Account.from_key(derive_dev_key(DEV_VALIDATOR_PATH)).address
    assert block["miner"] == validator
    tx = w3.eth.get_transaction(receipt["transactionHash"])
    assert tx["from"] == account.address and tx["chainId"] == DEV_CHAIN_ID
    validators = w3.provider.make_request(
        RPCEndpoint("qbft_getValidatorsByBlockNumber"), ["latest"]
    )
    assert validators["result"] == [validator.lower()]
    assert (
        w3.eth.estimate_gas({"to": counter.address, "data": counter.encode_abi("increment", [1])})
        > 21_000
    )


def test_reverts_are_code_3_with_revert_data(node: NodeProcess) -> None:
    w3 = connect(node.http_url)
    counter = deploy_counter(w3, dev(1))
    call = {"to": counter.address, "data": counter.encode_abi("increment", [0])}
    error = rpc(node.http_url, "eth_call", call, "latest")["error"]
    assert error["code"] == 3
    assert error["message"] == "execution reverted: amount must be positive"
    assert error["data"].startswith("0x08c379a0")
    too_big = {"to": counter.address, "data": counter.encode_abi("increment", [5000])}
    custom = rpc(node.http_url, "eth_estimateGas", too_big)["error"]
    selector = "0x" + Web3.keccak(text="TooBig(uint256)")[:4].hex()
    assert custom["code"] == 3 and custom["data"].startswith(selector)
    override = {counter.address: {"stateDiff": {"0x" + "00" * 32: "0x" + "00" * 31 + "07"}}}
    count_call = {"to": counter.address, "data": counter.encode_abi("count", [])}
    assert int(rpc(node.http_url, "eth_call", count_call, "latest", override)["result"], 16) == 7


def test_websocket_subscriptions_to_new_heads_and_logs(node: NodeProcess) -> None:
    w3 = connect(node.http_url)
    account = dev(2)
    counter = deploy_counter(w3, account)

    async def follow() -> tuple[dict[str, Any], dict[str, Any]]:
        async with AsyncWeb3(WebSocketProvider(node.ws_url)) as socket:
            socket.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
            heads = await socket.eth.subscribe("newHeads")
            logs = await socket.eth.subscribe("logs", {"address": counter.address})
            await asyncio.to_thread(increment, w3, account, counter, 3)
            found: dict[str, dict[str, Any]] = {}
            async for message in socket.socket.process_subscriptions():
                kind = "head" if message["subscription"] == heads else "log"
                assert message["subscription"] in {heads, logs}
                found.setdefault(kind, dict(message["result"]))
                if len(found) == 2:
                    break
            assert await socket.eth.unsubscribe(heads)
            return found["head"], found["log"]

    head, log = asyncio.run(asyncio.wait_for(follow(), 60))
    assert head["number"] >= 1 and len(head["hash"]) == 32
    assert log["address"] == counter.address
    assert counter.events.Incremented().process_log(log)["args"]["amount"] == 3


def signed_raw(account: LocalAccount, **overrides: Any) -> bytes:
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": DEV_CHAIN_ID,
        "nonce": 0,
        "to": "0x" + "42" * 20,
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
    }
    tx.update(overrides)
    return bytes(account.sign_transaction(tx).raw_transaction)


def test_every_bad_input_gets_its_error_and_the_node_keeps_serving(node: NodeProcess) -> None:
    url = node.http_url
    account = dev(3)
    w3 = connect(url)
    accepted = w3.eth.send_raw_transaction(signed_raw(account, nonce=0))

    def still_serving() -> None:
        assert rpc(url, "eth_chainId")["result"] == hex(DEV_CHAIN_ID)

    def send(raw: bytes) -> dict[str, Any]:
        return dict(rpc(url, "eth_sendRawTransaction", "0x" + raw.hex())["error"])

    status, answer = raw_post(url, b'{"jsonrpc":"2.0","id":1,"method":')
    assert (status, answer["error"]["code"]) == (200, -32700)
    still_serving()
    # py-evm lifts the recursion limit to 100,000 in the node: deep JSON must not reach the parser.
    status, answer = raw_post(url, b"[" * 200_000 + b"]" * 200_000)
    assert (status, answer["error"]["code"]) == (200, -32700)
    still_serving()
    assert rpc(url, "eth_getBalance", 7, "latest")["error"]["code"] == -32602
    assert rpc(url, "eth_getBlockByNumber", "latest", "true")["error"]["code"] == -32602
    still_serving()
    assert rpc(url, "eth_sendTransactionToMars")["error"]["code"] == -32601
    still_serving()
    big = (
        b'{"jsonrpc":"2.0","id":1,"method":"web3_sha3","params":["0x' + b"00" * (3 * 2**20) + b'"]}'
    )
    status, answer = raw_post(url, big)
    assert status == 413 and answer["error"]["code"] == -32005
    still_serving()
    invalid_rlp = send(b"\x02\xf8\xff\x01")
    assert invalid_rlp["code"] == -32000 and "rlp" in invalid_rlp["message"].lower()
    still_serving()
    wrong_chain = send(signed_raw(account, nonce=1, chainId=999))
    assert wrong_chain["code"] == -32000 and "chain id" in wrong_chain["message"]
    still_serving()
    good = signed_raw(account, nonce=1)
    high_s = send(replace_signature(good, s=SECP256K1_N - 1))
    zero_r = send(replace_signature(good, r=0))
    for bad_signature in (high_s, zero_r):
        assert bad_signature["code"] == -32000
        assert "invalid sender" in bad_signature["message"]
    still_serving()
    receipt = w3.eth.wait_for_transaction_receipt(accepted, RECEIPT_TIMEOUT, poll_latency=0.1)
    assert receipt["status"] == 1
    low = send(signed_raw(account, nonce=0))
    assert low["code"] == -32000 and low["message"].startswith("nonce too low")
    gap = send(signed_raw(account, nonce=10_000))
    assert gap["code"] == -32000 and gap["message"].startswith("nonce too high")
    block_gas = w3.eth.get_block("latest")["gasLimit"]
    over = send(signed_raw(account, nonce=1, gas=block_gas + 1))
    assert over["code"] == -32000 and over["message"].startswith("exceeds block gas limit")
    still_serving()
    # Nothing accepted was lost: a later good transaction from the same account still mines.
    later = w3.eth.send_raw_transaction(signed_raw(account, nonce=1))
    assert (
        w3.eth.wait_for_transaction_receipt(later, RECEIPT_TIMEOUT, poll_latency=0.1)["status"] == 1
    )
    assert w3.eth.get_transaction_count(account.address) == 2
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:  # noqa: S310
        metrics = response.read().decode()
    assert 'mykey_rpc_errors_total{code="-32000",method="eth_sendRawTransaction"}' in metrics
    assert "mykey_block_production_seconds_count" in metrics


def test_batch_of_raw_transactions(node: NodeProcess) -> None:
    account = dev(4)
    batch = [
        {
            "jsonrpc": "2.0",
            "id": nonce,
            "method": "eth_sendRawTransaction",
            "params": ["0x" + signed_raw(account, nonce=nonce).hex()],
        }
        for nonce in range(20)
    ]
    status, answers = raw_post(node.http_url, json.dumps(batch).encode())
    assert status == 200 and all("result" in answer for answer in answers)
    w3 = connect(node.http_url)
    last = answers[-1]["result"]
    assert (
        w3.eth.wait_for_transaction_receipt(last, RECEIPT_TIMEOUT, poll_latency=0.1)["status"] == 1
    )
    assert w3.eth.get_transaction_count(account.address) == 20


def test_cli_reports_errors_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "genesis.json"
    bad.write_text('{"config": {}}', encoding="utf-8")
    result = mykey("node", "init", "--datadir", str(tmp_path / "d"), "--genesis", str(bad))
    assert result.returncode == 1
    assert "chainId" in result.stderr and "Traceback" not in result.stderr
    missing = mykey("node", "run", "--datadir", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
