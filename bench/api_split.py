"""Benchmark: redemptions through the API as deployed, node, API and clients in three processes.

The same load as bench.api (residents with virtual cards, signed terminal requests, each
redemption answered once its receipt is final), but the dev node runs as `mykey node run` in
its own process (a dev data dir made by node.devmode.init_dev_datadir, JSON-RPC on free
loopback ports), the API runs as deployed, `mykey api serve` on 127.0.0.1 and a free port,
configured only by MYKEY_API_* variables (chain config, keystores and their password file, the
test JPKI authority's anchor and CRL files, written here), and this process only deploys the
demo consortium over JSON-RPC and generates the load over HTTP. It prints how busy the whole
machine was (it is shared) and each process's CPU during the redemptions (`cpu_percent node=…
api=… load=…`, 100 = one core), the parameters and, last, `RESULT tx_per_s=… p50_ms=… p99_ms=…`.

One API process, on the default SQLite store, so the API's nonces per sending account stay in
its memory (api.chain.nonces.LocalNonces). Several API processes on one key set need a
PostgreSQL store: there they take nonces from the store (StoreNonces) and one of them follows the
chain (the `indexer` lease); this benchmark does not start PostgreSQL, so it runs one process.

`--profile-api FILE` runs the API process (the same `mykey api serve`, called in-process by this
module's `--serve-api DIR`) under cProfile with a CPU clock, one profiler per
thread (the event loop, the request threads, the indexer); only the redemption phase is kept
(SIGUSR1 marks its start, SIGUSR2 its end and writes FILE as JSON), and the top costs per
redemption are printed. Profiling slows the API: its figures are for ranking costs, not for
throughput.

`--receipt-poll S` is an experiment: the API process gets MYKEY_API_RECEIPT_POLL_SECONDS=S (how
often each waiting request asks the node for its receipt; api.chain.sender's default otherwise).
The earlier experiments `--no-env-proxies` and `--lean-web3` are now how api.chain.ledger.connect
always builds the API's web3 (MYKEY_API_RPC_TRUST_ENV turns the former back).

`.venv/bin/python -m bench.api_split [--redemptions N] [--workers W] [--terminals T]
[--block-period S] [--profile-api FILE] [--receipt-poll S]`
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

import httpx
from cryptography.hazmat.primitives import serialization

from api.chain.ledger import connect
from api.cli import READY_PREFIX
from api.cli import main as api_main
from bench.api import (
    KEYS_DIR,
    PASSWORD,
    STORE_DIR,
    Load,
    add_load_arguments,
    bench_settings,
    check_load_arguments,
    count_senders,
    cpu_seconds,
    create_bench_staff,
    enrol_residents,
    machine_busy_line,
    machine_ticks,
    prepare_chain,
    print_result,
    redeem_all,
    rpc_counts,
    rpc_line,
)
from card_bridge.virtual_card.issuance import TestAuthority
from node.devmode import dev_accounts, init_dev_datadir, sub_second_ms

ROOT = Path(__file__).resolve().parents[1]
CHAIN_FILE = "chain.json"
ANCHOR_FILE = "jpki-test-ca.pem"
CRL_FILE = "jpki-test-crl.der"
KEYSTORE_PASSWORD_FILE = "keystore-password"  # noqa: S105 - a file name, not a password
NODE_READY = "JSON-RPC HTTP: "
"""What `mykey node run` prints once it serves (node.cli.run_command)."""
PROFILE_ENV = "MYKEY_BENCH_API_PROFILE"
START_SECONDS = 120.0
STOP_SECONDS = 20.0
TOP_COSTS = 12
PROJECT_PACKAGES = ("api/", "card_bridge/", "contracts/")
"""Profile rows of this project's own code, listed apart: what each step of a redemption costs."""


class ChildFailed(RuntimeError):
    """A process of the benchmark exited or stayed silent; the message names its log file."""


@dataclass
class Child:
    """A process this benchmark started, what it printed when ready, and its log file."""

    name: str
    process: subprocess.Popen[str]
    ready: str
    log: Path

    def stop(self) -> None:
        """SIGTERM, wait, SIGKILL if it does not finish; idempotent."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_SECONDS)


def start_child(
    name: str, command: Sequence[str], ready_prefix: str, log: Path, env: dict[str, str]
) -> Child:
    """Start `command` in the repository root; return once it prints `ready_prefix`.

    stderr goes to `log`; stdout is drained after the ready line so the child never blocks.
    Raises ChildFailed when it exits first or prints nothing within START_SECONDS.
    """
    with log.open("w", encoding="utf-8") as errors:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errors, text=True
        )
    assert process.stdout is not None
    # a silent child is killed so readline below returns instead of waiting for ever
    watchdog = threading.Timer(START_SECONDS, process.kill)
    watchdog.start()
    try:
        while True:
            line = process.stdout.readline()
            if not line:
                process.wait()
                raise ChildFailed(
                    f"{name} exited with {process.returncode} before it was ready; see {log}"
                )
            if line.startswith(ready_prefix):
                break
    finally:
        watchdog.cancel()
    threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
    return Child(name, process, line[len(ready_prefix) :].strip(), log)


def _drain(stream: IO[str]) -> None:
    for _line in stream:
        pass


def start_node(workdir: Path, block_period: float | None, env: dict[str, str]) -> Child:
    """Make a dev data dir and run `mykey node run` on it; `ready` is the JSON-RPC HTTP URL."""
    datadir = workdir / "node"
    init_dev_datadir(datadir, dev_accounts(), block_period_milliseconds=sub_second_ms(block_period))
    command = [sys.executable, "-m", "mykey_cli", "node", "run", "--datadir", str(datadir)]
    command += ["--http-port", "0", "--ws-port", "0", "--log-level", "WARNING"]
    if block_period is not None:
        command += ["--block-period", f"{block_period:g}"]
    return start_child("node", command, NODE_READY, workdir / "node.log", env)


def write_trust(workdir: Path, authority: TestAuthority, now: datetime) -> None:
    """Write the test JPKI authority's certificate (PEM) and CRL (DER) for the API to trust."""
    (workdir / ANCHOR_FILE).write_bytes(
        authority.certificate.public_bytes(serialization.Encoding.PEM)
    )
    (workdir / CRL_FILE).write_bytes(
        authority.revocation_list(now).public_bytes(serialization.Encoding.DER)
    )


def api_environment(workdir: Path, env: dict[str, str]) -> dict[str, str]:
    """Return `env` with the MYKEY_API_* variables of the bench's API (password file written)."""
    password_file = workdir / KEYSTORE_PASSWORD_FILE
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    password_file.chmod(0o600)
    return env | {
        "MYKEY_API_CHAIN_CONFIG": str(workdir / CHAIN_FILE),
        "MYKEY_API_KEYSTORE_DIR": str(workdir / KEYS_DIR),
        "MYKEY_API_KEYSTORE_PASSWORD_FILE": str(password_file),
        "MYKEY_API_JPKI_TRUST_ANCHORS": str(workdir / ANCHOR_FILE),
        "MYKEY_API_JPKI_CRLS": str(workdir / CRL_FILE),
    }


def start_api(workdir: Path, env: dict[str, str]) -> Child:
    """Run `mykey api serve` on a free port (profiled: via `--serve-api`); `ready` is its URL."""
    if PROFILE_ENV in env:
        command = [sys.executable, "-m", "bench.api_split", "--serve-api", str(workdir)]
    else:
        command = [sys.executable, "-m", "mykey_cli", "api", "serve", *_serve_arguments(workdir)]
    return start_child("api", command, READY_PREFIX, workdir / "api.log", env)


def _serve_arguments(workdir: Path) -> list[str]:
    # warning: no access log line per request, as the in-process bench.api serves
    return ["--data-dir", str(workdir / STORE_DIR), "--port", "0", "--log-level", "warning"]


class ThreadProfiles:
    """One cProfile profiler per thread, on each thread's CPU clock; totals between two marks.

    cProfile only sees the thread that enabled it, and the API's work runs in the event loop,
    in the request thread pool and in the indexer thread; `threading.setprofile` enables one in
    every thread started after `install`. A mark reads every profiler's totals (under the GIL,
    so no profiler is mid-update); the result is the difference between two marks.
    """

    def __init__(self) -> None:
        self._profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()
        self._start: dict[str, tuple[int, float, float]] = {}

    def install(self) -> None:
        """Profile this thread and every thread started from now on."""
        threading.setprofile(self._first_event)
        self._enable()

    def _enable(self) -> None:
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self._profiles.append(profile)
        profile.enable()

    def _first_event(self, frame: FrameType, event: str, arg: object) -> None:
        del frame, event, arg
        sys.setprofile(None)  # hand the thread over to its own cProfile profiler
        self._enable()

    def _totals(self) -> dict[str, tuple[int, float, float]]:
        totals: dict[str, tuple[int, float, float]] = {}
        with self._lock:
            profiles = list(self._profiles)
        for profile in profiles:
            for entry in profile.getstats():
                label = _label(entry.code)
                calls, own, cumulative = totals.get(label, (0, 0.0, 0.0))
                totals[label] = (
                    calls + entry.callcount,
                    own + entry.inlinetime,
                    cumulative + entry.totaltime,
                )
        return totals

    def mark_start(self) -> None:
        """Remember the totals now (the start of the measured phase)."""
        self._start = self._totals()

    def write_since_start(self, path: Path) -> None:
        """Write the costs since `mark_start` as JSON rows (label, calls, self_s, cum_s)."""
        rows = []
        for label, (calls, own, cumulative) in self._totals().items():
            before = self._start.get(label, (0, 0.0, 0.0))
            if calls > before[0]:
                rows.append(
                    {
                        "label": label,
                        "calls": calls - before[0],
                        "self_s": own - before[1],
                        "cum_s": cumulative - before[2],
                    }
                )
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(rows), encoding="utf-8")
        partial.replace(path)  # the benchmark waits for the whole file


def _label(code: object) -> str:
    filename = getattr(code, "co_filename", None)
    if filename is None:
        return str(code)  # a built-in, e.g. "<built-in method time.sleep>"
    short = filename.split("site-packages/")[-1].removeprefix(f"{ROOT}/")
    return f"{short}:{getattr(code, 'co_firstlineno', 0)}({getattr(code, 'co_name', '?')})"


def serve_api(workdir: Path) -> int:
    """Run `mykey api serve` in this process under the thread profiler (the child's entry point).

    The same command as unprofiled runs, with the same MYKEY_API_* environment; SIGUSR1 and
    SIGUSR2 mark the measured phase.
    """
    profile_file = os.environ[PROFILE_ENV]
    profiles = ThreadProfiles()
    signal.signal(signal.SIGUSR1, lambda _s, _f: profiles.mark_start())
    signal.signal(signal.SIGUSR2, lambda _s, _f: profiles.write_since_start(Path(profile_file)))
    profiles.install()
    return api_main(["serve", *_serve_arguments(workdir)])


def read_profile(path: Path, redemptions: int) -> list[str]:
    """Return report lines: the top costs per redemption by own and by cumulative CPU time."""
    deadline = time.monotonic() + STOP_SECONDS
    while not path.exists():
        if time.monotonic() > deadline:
            raise ChildFailed(f"the API process wrote no profile to {path}")
        time.sleep(0.05)
    rows: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    total = sum(row["self_s"] for row in rows)
    lines = [f"profile api_cpu_ms_per_redemption={1000 * total / redemptions:.1f} (profiled)"]
    own_code = [row for row in rows if str(row["label"]).startswith(PROJECT_PACKAGES)]
    listings = (("self", "self_s", rows), ("cum", "cum_s", rows), ("project", "cum_s", own_code))
    for kind, key, chosen in listings:
        chosen.sort(key=lambda row: float(row[key]), reverse=True)
        for row in chosen[:TOP_COSTS]:
            lines.append(
                f"profile {kind} ms_per_redemption={1000 * row[key] / redemptions:7.2f} "
                f"calls_per_redemption={row['calls'] / redemptions:7.1f} {row['label']}"
            )
    return lines


def child_environment(args: argparse.Namespace) -> tuple[dict[str, str], Path | None]:
    """Return the children's environment (with the switches asked for) and the profile file.

    Prints a line for each experiment switched on, so its figures are never taken for the API's.
    """
    env = dict(os.environ)
    profile: Path | None = args.profile_api
    if profile is not None:
        profile = profile.resolve()
        profile.unlink(missing_ok=True)
        env[PROFILE_ENV] = str(profile)
    if args.receipt_poll is not None:
        env["MYKEY_API_RECEIPT_POLL_SECONDS"] = f"{args.receipt_poll:g}"
        print(f"experiment api receipt_poll_s={args.receipt_poll:g}")
    return env, profile


def run(args: argparse.Namespace) -> None:
    """Start node and API processes, set up, run the load, print CPU, parameters and RESULT."""
    workdir = Path(tempfile.mkdtemp(prefix="mykey-bench-api-split-"))
    env, profile = child_environment(args)
    children: list[Child] = []
    try:
        node = start_node(workdir, args.block_period, env)
        children.append(node)
        w3 = connect(node.ready)
        chain = prepare_chain(
            w3, node.ready, dev_accounts(1)[0].private_key, workdir / KEYS_DIR, args.terminals
        )
        (workdir / CHAIN_FILE).write_text(json.dumps(chain.config.to_json()), encoding="utf-8")
        now = datetime.now(UTC)
        authority = TestAuthority.create(now)
        write_trust(workdir, authority, now)
        create_bench_staff(bench_settings(workdir), chain.municipality)
        api = start_api(workdir, api_environment(workdir, env))
        children.append(api)
        pids = {"node": node.process.pid, "api": api.process.pid, "load": os.getpid()}
        with httpx.Client(base_url=api.ready, timeout=60) as http:
            cards = enrol_residents(http, authority, now, args.workers)
            if profile is not None:
                api.process.send_signal(signal.SIGUSR1)
            calls = rpc_counts(node.ready)
            before, machine = (
                {name: cpu_seconds(pid) for name, pid in pids.items()},
                machine_ticks(),
            )
            load: Load = redeem_all(http, cards, chain.terminal_keys, args.redemptions)
            used = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
            busy = machine_busy_line(machine, machine_ticks())
            rpc = rpc_line(calls, rpc_counts(node.ready), args.redemptions)
            if profile is not None:
                api.process.send_signal(signal.SIGUSR2)
        senders = count_senders(w3, load.transaction_hashes)
        costs = [] if profile is None else read_profile(profile, args.redemptions)
    except BaseException:
        print(f"bench.api_split: logs and data kept in {workdir}", file=sys.stderr)
        raise
    finally:
        for child in reversed(children):  # the API first: it still talks to the node
            child.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    for line in costs:
        print(line)
    print(rpc)
    print(busy)
    print(
        "cpu_ms_per_redemption "
        + " ".join(f"{name}={1000 * used[name] / args.redemptions:.1f}" for name in pids)
    )
    print(
        "cpu_percent " + " ".join(f"{name}={100 * used[name] / load.wall_s:.0f}" for name in pids)
    )
    print_result(load, args, mode="split", senders=senders)


def main(argv: list[str] | None = None) -> int:
    """Run the split benchmark (or, with --serve-api, be its API process); return 0."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    add_load_arguments(parser)
    parser.add_argument("--profile-api", type=Path, help="profile the API process into this file")
    parser.add_argument(
        "--receipt-poll",
        type=float,
        help="experiment: seconds between the API's receipt polls (default: api.chain.sender's)",
    )
    parser.add_argument("--serve-api", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_api is not None:
        return serve_api(args.serve_api)
    check_load_arguments(parser, args)
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
