"""`mykey net up`: four node processes until Ctrl-C, seen by `mykey net status`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import tomli_w

from network.status import consortium_status
from tests.consortium.harness import REPOSITORY, free_ports, make_consortium, wait_until


def test_net_up_runs_every_node_until_ctrl_c(tmp_path: Path) -> None:
    folder = tmp_path / "net"
    nodes = make_consortium(folder, ["v1", "v2", "v3", "v4"])
    ports = free_ports(2 * len(nodes))
    for index, node in enumerate(nodes):
        rpc = {"host": "127.0.0.1", "http_port": ports[2 * index], "ws_port": ports[2 * index + 1]}
        (node.datadir / "config.toml").write_text(tomli_w.dumps({"rpc": rpc}), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "mykey_cli", "net", "up", str(folder), "-n", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPOSITORY,
        env=dict(os.environ, PYTHONPATH=str(REPOSITORY)),
        start_new_session=True,  # its own process group: teardown can reach the launched nodes
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(len(nodes) + 1)]
        assert lines[-1].startswith("4 nodes running"), lines
        wait_until(
            lambda: all((s.head or 0) >= 2 for s in consortium_status(folder, 2.0)),
            60,
            "every node of `net up` at block 2 in `net status`",
        )
        statuses = consortium_status(folder, 2.0)
        assert [s.error for s in statuses] == [None] * 4
        shown = subprocess.run(
            [sys.executable, "-m", "mykey_cli", "net", "status", str(folder)],
            capture_output=True,
            text=True,
            cwd=REPOSITORY,
            check=True,
        ).stdout.splitlines()
        assert shown[0].endswith("height/round")
        for line in shown[1:]:  # every node: 3 peers and a consensus height/round
            height, round_number = line.split()[-1].split("/")
            assert int(height) >= 2 and int(round_number) >= 0
            assert line.split()[4] == "3", line
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
        time.sleep(0.5)
        assert all(s.error is not None for s in consortium_status(folder, 1.0)), (
            "a node outlived `net up`"
        )
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the group this test started, nodes included
            process.wait(30)
