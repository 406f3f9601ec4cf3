"""Challenges: random, single-use, short-lived; time moved by a fake clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from card_bridge.platform_checks.challenges import ChallengeStore
from card_bridge.platform_checks.refusals import (
    ChallengeExpired,
    ChallengeReplayed,
    ChallengeUnknown,
)
from tests.card.conftest import FakeClock


def test_a_challenge_is_32_random_bytes_and_redeems_once(clock: FakeClock) -> None:
    store = ChallengeStore(clock, lifetime=timedelta(seconds=60))
    first, second = store.issue(), store.issue()
    assert len(first.value) == 32 and first.value != second.value
    assert first.expires_at == clock.now + timedelta(seconds=60)
    store.redeem(first.value)
    with pytest.raises(ChallengeReplayed):
        store.redeem(first.value)
    store.redeem(second.value)


def test_a_challenge_expires_at_the_end_of_its_lifetime(clock: FakeClock) -> None:
    store = ChallengeStore(clock, lifetime=timedelta(seconds=60))
    inside, outside = store.issue(), store.issue()
    clock.advance(timedelta(seconds=59))
    store.redeem(inside.value)
    clock.advance(timedelta(seconds=1))
    with pytest.raises(ChallengeExpired):
        store.redeem(outside.value)
    with pytest.raises(ChallengeReplayed):
        store.redeem(outside.value)  # an expired one stays used up


def test_an_invented_challenge_is_unknown(clock: FakeClock) -> None:
    with pytest.raises(ChallengeUnknown):
        ChallengeStore(clock).redeem(b"\x00" * 32)


def test_old_entries_are_forgotten_so_memory_stays_bounded(clock: FakeClock) -> None:
    store = ChallengeStore(clock, lifetime=timedelta(seconds=10))
    old = store.issue()
    store.redeem(old.value)
    clock.advance(timedelta(seconds=25))
    store.issue()
    with pytest.raises(ChallengeUnknown):
        store.redeem(old.value)


def test_a_repeating_random_source_is_detected(clock: FakeClock) -> None:
    store = ChallengeStore(clock, random_bytes=lambda size: b"\x01" * size)
    store.issue()
    with pytest.raises(RuntimeError, match="random source"):
        store.issue()
