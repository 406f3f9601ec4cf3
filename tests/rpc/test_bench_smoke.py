"""bench/throughput.py runs end to end on a small load and prints its RESULT line.

Not a timed test: it only proves the benchmark still works (deploy, presign, batch send,
receipts all status 1) so the figures in the notes can be reproduced.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.rpc.nodeproc import ROOT

pytestmark = pytest.mark.realstack


def test_throughput_benchmark_prints_its_result_line() -> None:
    result = subprocess.run(
        [sys.executable, "bench/throughput.py", "-n", "40", "--batch", "10", "--senders", "4"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"RESULT tx_per_s=[0-9.]+ p50_ms=[0-9.]+ p99_ms=[0-9.]+", last), last
    assert "all 40 receipts status 1" in result.stdout
