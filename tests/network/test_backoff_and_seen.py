"""Reconnect backoff figures and the gossip seen-set, exactly, with no clock."""

from __future__ import annotations

import random

import pytest

from network.backoff import Backoff
from network.seen import SeenSet, message_digest


def test_backoff_doubles_up_to_the_cap_without_jitter() -> None:
    backoff = Backoff(initial=0.5, factor=2.0, maximum=4.0, jitter=0.0)
    rng = random.Random(1)
    assert [backoff.delay(attempt, rng) for attempt in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff.delay(10_000, rng) == 4.0  # no overflow however long a peer stays down


def test_jitter_only_shortens_and_stays_within_its_fraction() -> None:
    backoff = Backoff(initial=1.0, factor=2.0, maximum=30.0, jitter=0.2)
    rng = random.Random(7)
    delays = [backoff.delay(3, rng) for _ in range(200)]
    assert all(8.0 * 0.8 <= delay <= 8.0 for delay in delays)
    assert len(set(delays)) > 100  # nodes that lost the same peer do not redial in lockstep


def test_backoff_refuses_nonsense_parameters() -> None:
    with pytest.raises(ValueError, match="0 < initial <= maximum"):
        Backoff(initial=0.0)
    with pytest.raises(ValueError, match="factor >= 1"):
        Backoff(factor=0.5)


def test_the_seen_set_reports_new_digests_once_and_forgets_the_oldest() -> None:
    seen = SeenSet(capacity=3)
    digests = [message_digest(bytes([n])) for n in range(4)]
    assert [seen.add(d) for d in digests[:3]] == [True, True, True]
    assert seen.add(digests[0]) is False
    assert seen.add(digests[3]) is True  # evicts digests[0], the oldest inserted
    assert len(seen) == 3
    assert digests[0] not in seen and digests[3] in seen


def test_message_digest_is_unambiguous_about_where_parts_split() -> None:
    assert message_digest(b"ab", b"c") != message_digest(b"a", b"bc")
    with pytest.raises(ValueError, match="at least 1"):
        SeenSet(0)
