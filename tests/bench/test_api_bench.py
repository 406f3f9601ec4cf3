"""Smoke tests of bench/api.py and bench/api_split.py: tiny runs print parameters and RESULT.

Each runs the benchmark as the documented command (real processes: a node on LevelDB, the API,
the clients; in the split mode three processes), with numbers small enough for a few seconds
of work; they assert the output's shape, that the redemptions really went out from two
terminal accounts, and that the API profile saw the request threads' work, never a timing
figure.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--redemptions", "4", "--workers", "2", "--terminals", "2"]
RESULT = r"RESULT tx_per_s=([0-9.]+) p50_ms=([0-9.]+) p99_ms=([0-9.]+)"


def _bench(module: str, *arguments: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _check_result(line: str) -> None:
    result = re.fullmatch(RESULT, line)
    assert result is not None, line
    assert float(result.group(1)) > 0
    assert float(result.group(2)) <= float(result.group(3))


def _rpc_calls(line: str) -> float:
    """Return the JSON-RPC calls per redemption of an `rpc_per_redemption` line.

    Each redemption sends one raw transaction, so that method must be listed.
    """
    counted = re.fullmatch(r"rpc_per_redemption total=([0-9.]+)( [a-zA-Z_]+=[0-9.]+)+", line)
    assert counted is not None, line
    assert "eth_sendRawTransaction=" in line
    return float(counted.group(1))


def test_bench_api_spreads_redemptions_over_terminals_and_prints_result() -> None:
    finished = _bench("bench.api", *TINY)

    assert finished.returncode == 0, finished.stderr[-2000:]
    lines = finished.stdout.strip().splitlines()
    assert re.fullmatch(r"cpu_percent process=\d+", lines[-3]), lines[-3]
    assert re.fullmatch(r"machine_busy_percent=\d+ cores=\d+", lines[-4]), lines[-4]
    assert _rpc_calls(lines[-5]) > 0
    parameters = re.fullmatch(
        r"redemptions=4 workers=2 terminals=2 senders=(\d+) wall_s=[0-9.]+ "
        r"mode=in-process block_period_s=1",
        lines[-2],
    )
    assert parameters is not None, lines[-2]
    assert int(parameters.group(1)) == 2
    _check_result(lines[-1])


def test_bench_api_split_runs_three_processes_and_profiles_the_api(tmp_path: Path) -> None:
    profile = tmp_path / "api-profile.json"

    finished = _bench("bench.api_split", *TINY, "--profile-api", str(profile))

    assert finished.returncode == 0, finished.stderr[-2000:]
    lines = finished.stdout.strip().splitlines()
    assert re.fullmatch(r"cpu_percent node=\d+ api=\d+ load=\d+", lines[-3]), lines[-3]
    assert re.fullmatch(
        r"cpu_ms_per_redemption node=[0-9.]+ api=[0-9.]+ load=[0-9.]+", lines[-4]
    ), lines[-4]
    assert re.fullmatch(r"machine_busy_percent=\d+ cores=\d+", lines[-5]), lines[-5]
    assert _rpc_calls(lines[-6]) > 0
    parameters = re.fullmatch(
        r"redemptions=4 workers=2 terminals=2 senders=(\d+) wall_s=[0-9.]+ "
        r"mode=split block_period_s=1",
        lines[-2],
    )
    assert parameters is not None, lines[-2]
    assert int(parameters.group(1)) == 2
    _check_result(lines[-1])
    # the settling of a card answer runs in a request thread: the profile must have seen it
    project = [line for line in lines if line.startswith("profile project ")]
    assert any(
        "api/routes/terminals.py" in line and "answer_redemption" in line for line in project
    )
    assert profile.exists()


@pytest.mark.parametrize(
    ("module", "arguments", "message"),
    [
        ("bench.api", ["--terminals", "0"], "--terminals must each be at least 1"),
        ("bench.api_split", ["--workers", "0"], "--terminals must each be at least 1"),
        ("bench.api_split", ["--block-period", "0"], "--block-period must be positive"),
    ],
)
def test_bench_refuses_impossible_numbers(module: str, arguments: list[str], message: str) -> None:
    finished = _bench(module, *arguments, timeout=60)

    assert finished.returncode == 2
    assert message in finished.stderr
