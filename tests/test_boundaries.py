"""The package boundaries of ARCHITECTURE.md, checked on the source: who may import what.

Only one module imports plyvel and one imports pyscard; consensus touches no asyncio or sockets;
api/ reaches the ledger only over JSON-RPC; node/ never imports api, card_bridge or fastapi.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("node", "network", "contracts", "api", "card_bridge")


def imported_roots(path: Path) -> set[str]:
    """Return the dotted names a module imports (absolute imports only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for item in ast.walk(tree):
        if isinstance(item, ast.Import):
            names.update(alias.name for alias in item.names)
        elif isinstance(item, ast.ImportFrom) and item.module and item.level == 0:
            names.add(item.module)
    return names


def modules_of(package: str) -> dict[str, set[str]]:
    """Map each module file of `package` (relative path) to what it imports."""
    return {
        str(path.relative_to(ROOT)): imported_roots(path)
        for path in sorted((ROOT / package).rglob("*.py"))
        if "node_modules" not in path.parts
    }


def importers_of(prefix: str) -> list[str]:
    """Return every module, in every package, that imports `prefix` or a submodule of it."""
    found = []
    for package in PACKAGES:
        for module, names in modules_of(package).items():
            if any(name == prefix or name.startswith(prefix + ".") for name in names):
                found.append(module)
    return found


def test_one_module_imports_plyvel() -> None:
    assert len(importers_of("plyvel")) <= 1, importers_of("plyvel")


def test_one_module_imports_pyscard() -> None:
    assert len(importers_of("smartcard")) <= 1, importers_of("smartcard")


def forbidden(package: str, banned: tuple[str, ...]) -> list[tuple[str, str]]:
    """Return (module, import) pairs in `package` that start with a banned prefix."""
    return [
        (module, name)
        for module, names in modules_of(package).items()
        for name in names
        if any(name == ban or name.startswith(ban + ".") for ban in banned)
    ]


def test_node_does_not_import_api_card_bridge_or_fastapi() -> None:
    assert forbidden("node", ("api", "card_bridge", "fastapi")) == []


def test_api_reaches_the_ledger_only_over_json_rpc() -> None:
    assert forbidden("api", ("node", "plyvel", "eth.vm", "eth.chains")) == []


def test_network_does_not_import_node_or_api() -> None:
    assert forbidden("network", ("node", "api")) == []


def test_card_bridge_does_not_import_node_or_api() -> None:
    assert forbidden("card_bridge", ("node", "api")) == []


def test_contracts_import_no_other_package() -> None:
    assert forbidden("contracts", ("node", "network", "api", "card_bridge")) == []


def test_consensus_is_pure() -> None:
    consensus = ROOT / "node" / "consensus"
    if not consensus.exists():
        return
    offenders = [
        (module, name)
        for module, names in modules_of("node").items()
        if module.startswith("node/consensus/") and not module.endswith("driver.py")
        for name in names
        if name.split(".")[0] in {"asyncio", "socket", "ssl", "time", "plyvel", "threading"}
    ]
    assert offenders == []
