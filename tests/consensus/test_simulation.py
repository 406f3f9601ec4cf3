"""The deterministic fault simulation: 1,000 seeded schedules, and proof that it can fail.

Every schedule checks safety (no two different blocks finalized at one height on honest
validators), no double signing, quorum seals, and liveness after the faults heal. A failing
schedule's assertion message carries the one-line command that replays it.
The whole file runs in well under two minutes; measure with
`time .venv/bin/pytest tests/consensus/test_simulation.py -q`.
"""

from __future__ import annotations

import pytest

from node.consensus import rules, simulation
from node.consensus.simulation import FaultPlan, Simulation, main, run_schedule
from node.consensus.state import Config

CHUNK = 50
FOUR_VALIDATOR_CHUNKS = 12  # 600 schedules
SEVEN_VALIDATOR_CHUNKS = 8  # 400 schedules


def run_chunk(validators: int, chunk: int) -> None:
    failures = []
    for seed in range(chunk * CHUNK, (chunk + 1) * CHUNK):
        result = run_schedule(seed, validators)
        if result.violation is not None:
            failures.append(f"{result.replay_command()}  # {result.violation}")
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("chunk", range(FOUR_VALIDATOR_CHUNKS))
def test_four_validators_keep_safety_and_liveness(chunk: int) -> None:
    run_chunk(4, chunk)


@pytest.mark.parametrize("chunk", range(SEVEN_VALIDATOR_CHUNKS))
def test_seven_validators_keep_safety_and_liveness(chunk: int) -> None:
    run_chunk(7, chunk)


def test_schedules_cover_every_kind_of_fault() -> None:
    plans = [Simulation(seed, 4).plan for seed in range(CHUNK)]
    assert sum(p.byzantine is not None for p in plans) >= 10
    assert sum(bool(p.partitions) for p in plans) >= 10
    assert sum(any(c[3] for c in p.crashes) for p in plans) >= 5  # mid-step crashes
    assert sum(any(not c[3] for c in p.crashes) for p in plans) >= 5
    assert sum(p.drop > 0 for p in plans) >= 10
    assert sum(p.duplicate > 0 for p in plans) >= 10


def test_a_schedule_is_deterministic() -> None:
    assert run_schedule(17, 7) == run_schedule(17, 7)


def test_without_faults_a_block_comes_every_block_period() -> None:
    simulation = Simulation(3, 4, faults=False, blocks_after_heal=10)
    result = simulation.run()
    assert result.violation is None
    assert min(result.heads) >= 10
    assert result.simulated_ms < 10 * 1000 + 2000
    summaries = [line for node in simulation.nodes for line in node.summaries]
    assert summaries and all(" round=0 " in line for line in summaries)  # no round changes
    assert sum("outcome=committed" in line for line in summaries) >= 4 * 10 - 4


@pytest.mark.parametrize("seed", range(3))
def test_schedules_with_real_secp256k1_signatures(seed: int) -> None:
    result = run_schedule(seed, 4, real_signatures=True)
    assert result.violation is None, result.replay_command() + " --real-signatures"


def test_a_lowered_quorum_is_caught_and_the_failure_prints_its_replay_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rules, "quorum", lambda count: count // 2)
    failing = next(
        (r for r in (run_schedule(seed, 4) for seed in range(200)) if r.violation is not None),
        None,
    )
    assert failing is not None, "a quorum of n/2 must let two blocks be finalized somewhere"
    assert "SAFETY" in (failing.violation or "")
    lines: list[str] = []
    assert main(["--seed", str(failing.seed), "--validators", "4"], out=lines.append) == 1
    assert "VIOLATION" in lines[-1]
    assert failing.replay_command() == (
        f".venv/bin/python -m node.consensus.simulation --seed {failing.seed} --validators 4"
    )


def test_the_command_line_replays_a_passing_schedule() -> None:
    lines: list[str] = []
    assert main(["--seed", "5", "--validators", "7"], out=lines.append) == 0
    assert lines[-1].startswith("seed=5 validators=7") and lines[-1].endswith("result=ok")


def test_a_restart_without_the_log_is_caught_signing_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulation, "decode_log", lambda data: ([], 0))
    assert any(
        "signed two digests" in (run_schedule(seed, 4).violation or "") for seed in range(100)
    )


def test_two_of_four_down_halts_without_forking_and_one_back_resumes() -> None:
    simulation = Simulation(11, 4, faults=False, blocks_after_heal=3)
    # validators 1 and 2 stop at 3 s; validator 1 comes back at 30 s, validator 2 stays down
    simulation.plan = FaultPlan(
        heal_ms=30_000,
        drop=0.0,
        duplicate=0.0,
        max_delay_ms=50,
        byzantine=2,  # counted as the one faulty validator: liveness is not asked of it
        partitions=(),
        crashes=((1, 3_000, 30_000, False), (2, 3_000, 10**9, False)),
    )
    result = simulation.run()
    assert result.violation is None, result.violation
    during = [f for f in simulation.finalizations if 3_500 < f[0] < 30_000]
    after = [f for f in simulation.finalizations if f[0] >= 30_000 and f[1] in (0, 1, 3)]
    assert during == []  # two of four cannot make a quorum of three
    assert {validator for _, validator, _ in after} == {0, 1, 3}
    assert min(result.heads[i] for i in (0, 1, 3)) >= max(h for _, _, h in after) - 1


@pytest.mark.parametrize(
    "config",
    [
        Config(block_period_ms=1000, request_timeout_ms=1000, round_timeout_cap_ms=4000),
        Config(block_period_ms=1000, request_timeout_ms=1000, early_round_change=False),
    ],
    ids=["capped-round-timer", "no-early-round-change"],
)
def test_operator_settings_keep_safety_and_liveness(config: Config) -> None:
    failures = [
        f"{r.replay_command()}  # {r.violation}"
        for r in (Simulation(seed, 4, config=config).run() for seed in range(25))
        if r.violation is not None
    ]
    assert failures == [], "\n".join(failures)
