"""Compiled contract artifacts (ABI, bytecode, metadata) as committed under contracts/artifacts/.

The node and the API load these files; neither needs Node.js nor solc. `make contracts` rebuilds
them and tests/contracts/test_artifacts.py proves they still match contracts/src.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"

CONTRACT_NAMES = (
    "Consortium",
    "MykeyRegistry",
    "PointLedger",
    "Settlement",
    "LedgerProxy",
    "PointLedgerV2",
)
"""Every artifact `make contracts` writes; PointLedgerV2 is the test-only upgrade target."""


class ArtifactMissing(FileNotFoundError):
    """An artifact file is absent: the checkout is incomplete, or `make contracts` was not run."""


@dataclass(frozen=True)
class Artifact:
    """One compiled contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes
    metadata: str


@cache
def load_artifact(name: str) -> Artifact:
    """Return the committed artifact `name`; raises ArtifactMissing."""
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.is_file():
        raise ArtifactMissing(f"no artifact {path}; run `make contracts` to compile contracts/src")
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Artifact(
        name=raw["contractName"],
        abi=raw["abi"],
        bytecode=bytes.fromhex(raw["bytecode"][2:]),
        deployed_bytecode=bytes.fromhex(raw["deployedBytecode"][2:]),
        metadata=raw["metadata"],
    )


def all_error_abis() -> list[dict[str, Any]]:
    """Return every custom error declared in any artifact (for decoding reverts)."""
    seen: dict[str, dict[str, Any]] = {}
    for name in CONTRACT_NAMES:
        for item in load_artifact(name).abi:
            if item.get("type") == "error":
                seen[item["name"] + str([i["type"] for i in item["inputs"]])] = item
    return list(seen.values())
