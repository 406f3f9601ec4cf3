"""The committed artifacts match their sources, compiled by the pinned solc (npm package).

Runs contracts/build.sh into a temporary directory (it runs `npm ci` in contracts/ first when
node_modules is missing) and compares every artifact byte for byte with contracts/artifacts/.
A source edited without `make contracts` fails here. Needs Node.js (scripts/debian-packages.txt).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from contracts.artifacts import ARTIFACTS_DIR, CONTRACT_NAMES, load_artifact

CONTRACTS_DIR = ARTIFACTS_DIR.parent
EIP170_LIMIT = 24_576


def test_committed_artifacts_match_the_sources(tmp_path: Path) -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("Node.js and npm are needed to check the artifacts: run `make system`")
    result = subprocess.run(
        ["bash", str(CONTRACTS_DIR / "build.sh"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    built = sorted(path.name for path in tmp_path.glob("*.json"))
    assert built == sorted(f"{name}.json" for name in CONTRACT_NAMES)
    for name in built:
        fresh = (tmp_path / name).read_text(encoding="utf-8")
        committed = (ARTIFACTS_DIR / name).read_text(encoding="utf-8")
        assert fresh == committed, f"{name} is stale: run `make contracts` and commit the artifacts"


def test_artifacts_pin_compiler_and_evm_version() -> None:
    for name in CONTRACT_NAMES:
        raw = json.loads((ARTIFACTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
        assert raw["compiler"]["version"].startswith("0.8.37+")
        assert raw["compiler"]["settings"]["evmVersion"] == "prague"
        assert json.loads(raw["metadata"])["settings"]["evmVersion"] == "prague"


def test_every_contract_fits_the_eip170_code_limit() -> None:
    for name in CONTRACT_NAMES:
        assert 0 < len(load_artifact(name).deployed_bytecode) <= EIP170_LIMIT, name
