"""Smoke test of bench/api.py: a tiny run over two terminals prints its parameters and RESULT.

Runs the benchmark as the documented command (a real process: its own node, API and clients),
with numbers small enough for a few seconds of work; it asserts the output's shape and that the
redemptions really went out from two terminal accounts, never a timing figure.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_api_spreads_redemptions_over_terminals_and_prints_result() -> None:
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.api",
            "--redemptions",
            "4",
            "--workers",
            "2",
            "--terminals",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr[-2000:]
    lines = finished.stdout.strip().splitlines()
    parameters = re.fullmatch(
        r"redemptions=4 workers=2 terminals=2 senders=(\d+) wall_s=[0-9.]+", lines[-2]
    )
    assert parameters is not None, lines[-2]
    assert int(parameters.group(1)) == 2
    result = re.fullmatch(r"RESULT tx_per_s=([0-9.]+) p50_ms=([0-9.]+) p99_ms=([0-9.]+)", lines[-1])
    assert result is not None, lines[-1]
    assert float(result.group(1)) > 0
    assert float(result.group(2)) <= float(result.group(3))


def test_bench_api_refuses_zero_terminals() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "bench.api", "--terminals", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert finished.returncode == 2
    assert "--terminals must each be at least 1" in finished.stderr
