"""Fixtures for the consortium integration tests: node processes that are always stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.consortium.harness import ConsortiumNodeDir, NodeProcess


@pytest.fixture
def launch() -> Iterator[Callable[[ConsortiumNodeDir], NodeProcess]]:
    """Return a factory of (not yet started) node processes; kills any left at teardown."""
    made: list[NodeProcess] = []

    def factory(node: ConsortiumNodeDir) -> NodeProcess:
        process = NodeProcess(node)
        made.append(process)
        return process

    yield factory
    for process in made:
        process.kill()
