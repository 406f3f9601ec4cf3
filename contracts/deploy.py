"""Deploying the point ledger: four contracts, each behind an ERC-1967 proxy (UUPS upgrades).

Order and wiring: Consortium(platform operator) -> MykeyRegistry(consortium) ->
PointLedger(consortium, registry) -> Settlement(consortium, ledger) -> ledger.setSettlement.
The proxies' addresses never change; `upgrade` swaps one implementation (platform accounts only)
while every balance stays in the proxy's storage. A `Deployment` is what the node's genesis step,
the API and `mykey dev` keep: the chain ID, the four proxy addresses and the deployment block.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3

from contracts.artifacts import load_artifact
from contracts.transactions import (
    PlannedTransaction,
    TransactionFailed,
    address_of,
    call_data,
    create_address,
    deploy_contract,
    send_batch,
    send_call,
)

PROXIED = ("Consortium", "MykeyRegistry", "PointLedger", "Settlement")


class DeploymentFileError(ValueError):
    """A deployment file is missing a field or names a different chain."""


@dataclass(frozen=True)
class Deployment:
    """Where the ledger lives on one chain."""

    chain_id: int
    consortium: ChecksumAddress
    registry: ChecksumAddress
    ledger: ChecksumAddress
    settlement: ChecksumAddress
    block_number: int

    def address_of(self, contract: str) -> ChecksumAddress:
        """Return the proxy address of `contract` ("Consortium", "PointLedger", ...)."""
        return {
            "Consortium": self.consortium,
            "MykeyRegistry": self.registry,
            "PointLedger": self.ledger,
            "Settlement": self.settlement,
        }[contract]

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (also what `save` writes)."""
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Deployment:
        """Parse what `to_json` wrote; raises DeploymentFileError naming the missing field."""
        try:
            return cls(
                chain_id=int(raw["chain_id"]),
                consortium=to_checksum_address(raw["consortium"]),
                registry=to_checksum_address(raw["registry"]),
                ledger=to_checksum_address(raw["ledger"]),
                settlement=to_checksum_address(raw["settlement"]),
                block_number=int(raw["block_number"]),
            )
        except KeyError as missing:
            raise DeploymentFileError(f"deployment record lacks {missing}") from None

    def save(self, path: Path) -> None:
        """Write the deployment as JSON to `path`."""
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Deployment:
        """Read a deployment written by `save`."""
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


def _initialize_data(w3: Web3, contract: str, args: list[Any]) -> bytes:
    implementation = w3.eth.contract(abi=load_artifact(contract).abi)
    return bytes(HexBytes(implementation.encode_abi("initialize", args=args)))


def deploy_proxied(
    w3: Web3, deployer_key: str | bytes, contract: str, args: list[Any]
) -> ChecksumAddress:
    """Deploy `contract`'s implementation and a proxy initialised with `args`; return the proxy."""
    implementation = deploy_contract(w3, deployer_key, load_artifact(contract))
    init = _initialize_data(w3, contract, args)
    return deploy_contract(w3, deployer_key, load_artifact("LedgerProxy"), implementation, init)


def creation_gas(contract: str) -> int:
    """Gas to create `contract`: code deposit (200/byte), init code, and a margin for the rest."""
    artifact = load_artifact(contract)
    return 200_000 + 220 * len(artifact.deployed_bytecode) + 20 * len(artifact.bytecode)


PROXY_GAS = 800_000
"""Creating a proxy and running `initialize` through it (a few storage writes)."""


def _creation_data(w3: Web3, contract: str, args: list[Any]) -> bytes:
    artifact = load_artifact(contract)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    return bytes(HexBytes(factory.constructor(*args).data_in_transaction))


def deploy_ledger(w3: Web3, deployer_key: str | bytes) -> Deployment:
    """Deploy the four contracts; the deployer becomes the first platform operator account.

    All nine transactions go out at once (their addresses follow from the deployer's nonces), so
    on a ledger sealing a block a second the deployment takes a block or two, not nine.
    Raises TransactionFailed naming the step that failed.
    """
    platform = address_of(deployer_key)
    nonce = w3.eth.get_transaction_count(platform, "pending")
    proxies = {name: create_address(platform, nonce + 2 * i + 1) for i, name in enumerate(PROXIED)}
    init_args: dict[str, list[Any]] = {
        "Consortium": [platform],
        "MykeyRegistry": [proxies["Consortium"]],
        "PointLedger": [proxies["Consortium"], proxies["MykeyRegistry"]],
        "Settlement": [proxies["Consortium"], proxies["PointLedger"]],
    }
    planned = []
    for i, name in enumerate(PROXIED):
        implementation = create_address(platform, nonce + 2 * i)
        planned.append(
            PlannedTransaction(
                deployer_key,
                None,
                _creation_data(w3, name, []),
                creation_gas(name),
                f"create {name}",
            )
        )
        proxy_args = [implementation, _initialize_data(w3, name, init_args[name])]
        planned.append(
            PlannedTransaction(
                deployer_key,
                None,
                _creation_data(w3, "LedgerProxy", proxy_args),
                PROXY_GAS,
                f"create {name} proxy",
            )
        )
    ledger = w3.eth.contract(address=proxies["PointLedger"], abi=load_artifact("PointLedger").abi)
    planned.append(
        PlannedTransaction(
            deployer_key,
            proxies["PointLedger"],
            call_data(ledger.functions.setSettlement(proxies["Settlement"])),
            300_000,
            "wire settlement",
        )
    )
    receipts = send_batch(w3, planned)
    for item, receipt in zip(planned, receipts, strict=True):
        if item.to is None and receipt["contractAddress"] is None:
            raise TransactionFailed(f"{item.label} made no contract")
    return Deployment(
        chain_id=w3.eth.chain_id,
        consortium=proxies["Consortium"],
        registry=proxies["MykeyRegistry"],
        ledger=proxies["PointLedger"],
        settlement=proxies["Settlement"],
        block_number=int(receipts[-1]["blockNumber"]),
    )


def upgrade(
    w3: Web3, platform_key: str | bytes, proxy: ChecksumAddress, implementation_artifact: str
) -> ChecksumAddress:
    """Deploy a new implementation and point `proxy` at it (UUPS); return the implementation.

    Storage stays in the proxy, so balances survive. The new implementation must only append
    state variables. Raises LedgerRevert NotPlatform for any other sender.
    """
    implementation = deploy_contract(w3, platform_key, load_artifact(implementation_artifact))
    contract = w3.eth.contract(address=proxy, abi=load_artifact(implementation_artifact).abi)
    send_call(w3, platform_key, contract.functions.upgradeToAndCall(implementation, b""))
    return implementation
