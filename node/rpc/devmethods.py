"""Dev-only JSON-RPC methods that move block time: `evm_increaseTime`, `evm_setNextBlockTimestamp`
and `evm_mine`, with the names and meanings Hardhat and Anvil give them.

They exist only on a node started with clock control (`ServiceOptions.clock_control`, which
`mykey dev` and `start_embedded` set); `register_dev_methods` adds them to a method table, and a
node without it answers -32601 "method not found". Invariant: block time only moves forward
(see `node.devclock`); a refused request changes nothing.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from node.devclock import BlockClock, ClockControlError
from node.ports import BlockView, LedgerReader
from node.rpc.errors import RpcError, invalid_params
from node.rpc.methods import Handler, Session, arity


@runtime_checkable
class BlockProducer(Protocol):
    """What `evm_mine` needs: seal a block now, even an empty one."""

    def produce_block(self, now: float | None = None, *, force: bool = False) -> BlockView | None:
        """Build, seal, import and persist a block."""
        ...


def _seconds(value: Any, index: int, name: str) -> int:
    """Accept a JSON integer or a 0x-hex / decimal string, as Hardhat does."""
    if isinstance(value, bool):
        raise invalid_params(index, name, f"expected a number of seconds, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 16) if value.lower().startswith("0x") else int(value, 10)
        except ValueError:
            pass
    raise invalid_params(index, name, f"expected a number of seconds, got {value!r}")


class DevClockMethods:
    """The `evm_` handlers over one block clock, the chain reader and the block producer."""

    def __init__(self, clock: BlockClock, reader: LedgerReader, producer: BlockProducer) -> None:
        self.clock = clock
        self.reader = reader
        self.producer = producer

    def evm_increase_time(self, params: list[Any], session: Session | None) -> Any:
        """Add seconds to the block clock's offset; return the new total offset (seconds)."""
        arity(params, 1, 1)
        try:
            return self.clock.increase_time(_seconds(params[0], 0, "seconds"))
        except ClockControlError as error:
            raise invalid_params(0, "seconds", str(error)) from error

    def evm_set_next_block_timestamp(self, params: list[Any], session: Session | None) -> Any:
        """Pin the next block's timestamp (>= the latest block's); returns null."""
        arity(params, 1, 1)
        parent = self.reader.head().timestamp
        try:
            self.clock.set_next_block_timestamp(_seconds(params[0], 0, "timestamp"), parent)
        except ClockControlError as error:
            raise invalid_params(0, "timestamp", str(error)) from error
        return None

    def evm_mine(self, params: list[Any], session: Session | None) -> Any:
        """Seal a block now (empty if the pool is), as Hardhat does; returns "0x0"."""
        arity(params, 1)
        block = self.producer.produce_block(force=True)
        if block is None:
            raise RpcError(-32000, "no block was sealed; the node log has the reason")
        return "0x0"


def register_dev_methods(methods: dict[str, Handler], dev: DevClockMethods) -> None:
    """Add the `evm_` methods to a method table (only on a node with clock control)."""
    methods["evm_increaseTime"] = dev.evm_increase_time
    methods["evm_setNextBlockTimestamp"] = dev.evm_set_next_block_timestamp
    methods["evm_mine"] = dev.evm_mine
