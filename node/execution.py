"""Block execution on py-evm 0.12.1b1 at Prague, behind a small interface.

`ExecutionEngine` is what the chain needs: execute a block's transactions on a parent state root
(building, or re-checking an imported block), and run a call without committing. `PyEvmEngine`
implements it by driving py-evm's `PragueState` directly rather than py-evm's Chain/VM classes: the
chain owns headers, hashing (QBFT) and storage, and a faster engine can later be checked against
this one through the same interface.

Rules this module keeps:
- The base fee is 0 in every block (`next_base_fee`). EIP-1559's update would raise it by at least
  1 wei whenever a block is over target, and then zero-gas-price transactions would stop fitting;
  Besu's `zeroBaseFee` makes the same choice. Gas only bounds work.
- No block reward and no coinbase touch (Besu BFT skips zero rewards), so empty blocks change no
  state. Fees a transaction chooses to pay still go to the coinbase, as in Besu.
- All transactions of a block are applied on one state, with `lock_changes` between them, and the
  state root is computed once at the end; transaction and receipt roots are built in one pass
  (node.triehash). Senders come pinned from node.transactions; nothing is recovered here.
- Speed shortcuts (LedgerComputation's opcode loop and LedgerStack, LedgerTransactionExecutor,
  node.fastrlp's codecs) are copies of py-evm/py-trie code paths with per-call overhead removed;
  results are identical, which tests/node/test_execution.py checks by re-executing every block
  on plain `PragueState` with node.fastrlp uninstalled.
- System contracts: if the EIP-2935 history contract is present in state its slot is updated as
  py-evm's PragueVM does; the EIP-7002/7251 request contracts are not deployed on this ledger, so
  the requests hash is always sha256 of nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from hashlib import sha256
from typing import Any, ClassVar, Protocol, cast

from eth._utils.address import generate_contract_address
from eth.abc import (
    ComputationAPI,
    MessageAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    StateAPI,
    TransactionContextAPI,
)
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.exceptions import FullStack, Halt, InsufficientStack, OutOfGas
from eth.validation import validate_stack_bytes, validate_stack_int
from eth.vm.code_stream import CodeStream
from eth.vm.computation import NO_RESULT
from eth.vm.execution_context import ExecutionContext
from eth.vm.forks.byzantium.constants import (
    EIP658_TRANSACTION_STATUS_CODE_FAILURE,
    EIP658_TRANSACTION_STATUS_CODE_SUCCESS,
)
from eth.vm.forks.cancun.constants import BLOB_TX_TYPE
from eth.vm.forks.cancun.transactions import BlobTransaction
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.constants import (
    HISTORY_SERVE_WINDOW,
    HISTORY_STORAGE_ADDRESS,
    HISTORY_STORAGE_CONTRACT_CODE,
)
from eth.vm.forks.prague.state import PragueState, PragueTransactionExecutor
from eth.vm.forks.prague.transactions import PragueUnsignedLegacyTransaction
from eth.vm.gas_meter import GasMeter
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.message import Message
from eth.vm.opcode import _FastOpcode
from eth.vm.spoof import SpoofTransaction
from eth.vm.stack import Stack, to_int
from eth_typing import Address as EvmAddress
from eth_typing import Hash32 as EvmHash32
from eth_utils.address import to_canonical_address
from eth_utils.exceptions import ValidationError
from eth_utils.logging import ExtendedDebugLogger, get_extended_debug_logger

from node import fastrlp  # noqa: F401  (installs the fast trie-node codec; see its docstring)
from node.header import DIFFICULTY, MIX_HASH
from node.ports import AccountOverride, CallRequest, StateOverrides
from node.storage.evmdb import StateOverlay
from node.transactions import SignedTransaction
from node.triehash import ordered_trie_root

EMPTY_REQUESTS_HASH = sha256().digest()
ZERO_ADDRESS = b"\x00" * 20
MAX_PREVIOUS_HASHES = 256


JUMPDEST_ANALYSES_KEPT = 1024
STACK_LIMIT = 1023  # py-evm refuses a push when the stack already holds more than this


class SharedAnalysisCodeStream(CodeStream):
    """A CodeStream whose jump-destination analysis is shared by every run of the same code.

    py-evm makes a fresh CodeStream per message and re-derives, on every JUMP, whether the
    target byte is PUSH data; that analysis depends on the code bytes alone, so all runs of one
    contract can share its sets of known valid and invalid positions.
    """

    _analyses: ClassVar[OrderedDict[bytes, tuple[set[int], set[int]]]] = OrderedDict()

    def __init__(self, code_bytes: bytes) -> None:
        super().__init__(code_bytes)
        analyses = SharedAnalysisCodeStream._analyses
        shared = analyses.get(code_bytes)
        if shared is None:
            shared = (set(), set())
            analyses[code_bytes] = shared
            if len(analyses) > JUMPDEST_ANALYSES_KEPT:
                analyses.popitem(last=False)
        self.valid_positions, self.invalid_positions = shared


def _run_code(computation: Any) -> None:
    """py-evm's opcode loop with the gas charge of `_FastOpcode`s inlined (see LedgerComputation).

    Exceptions other than Halt propagate to the computation's context manager, as in py-evm.
    """
    gas_meter = computation._gas_meter
    opcode_lookup = computation.opcodes
    for opcode in computation.code:
        opcode_fn: Any = opcode_lookup.get(opcode)
        if opcode_fn.__class__ is _FastOpcode:
            cost = opcode_fn.gas_cost
            remaining = gas_meter.gas_remaining
            if cost > remaining:
                raise OutOfGas(
                    f"Out of gas: Needed {cost} - Remaining {remaining} "
                    f"- Reason: {opcode_fn.mnemonic}"
                )
            gas_meter.gas_remaining = remaining - cost
            try:
                opcode_fn.logic_fn(computation)
            except Halt:
                break
        else:
            if opcode_fn is None:
                opcode_fn = InvalidOpcode(opcode)
            try:
                opcode_fn(computation=computation)
            except Halt:
                break


UINT_256_LIMIT = 2**256


class LedgerStack(Stack):
    """py-evm's Stack with its hottest operations written without per-item helper calls.

    Same items, limits, checks and exceptions as `eth.vm.stack.Stack` (0.12.1b1): pushes still
    refuse a full stack and out-of-range items (through py-evm's validators when they fail),
    pops still raise InsufficientStack with py-evm's messages; only the common path is inlined.
    """

    __slots__ = ()

    def push_int(self, value: int) -> None:
        """Push a 256-bit unsigned integer."""
        if len(self.values) > STACK_LIMIT:
            raise FullStack("Stack limit reached")
        if not 0 <= value < UINT_256_LIMIT:
            validate_stack_int(value)
        self._append(value)

    def push_bytes(self, value: bytes) -> None:
        """Push up to 32 bytes."""
        if len(self.values) > STACK_LIMIT:
            raise FullStack("Stack limit reached")
        if len(value) > 32:
            validate_stack_bytes(value)
        self._append(value)

    def pop1_int(self) -> int:
        """Pop one item as an integer."""
        try:
            value = self._pop()
        except IndexError:
            raise InsufficientStack("Wanted 1 stack item, had none") from None
        return value if value.__class__ is int else to_int(value)

    def pop_ints(self, num_items: int) -> tuple[int, ...]:
        """Pop `num_items` items as integers, top first."""
        values = self.values
        if num_items > len(values):
            raise InsufficientStack(f"Wanted {num_items} stack items, only had {len(values)}")
        popped = values[-num_items:]
        del values[-num_items:]
        popped.reverse()
        return tuple([item if item.__class__ is int else to_int(item) for item in popped])


class LedgerComputation(PragueComputation):
    """Prague computation with the shared jump-destination analysis and a leaner opcode loop.

    py-evm runs each opcode through `_FastOpcode.__call__`, which calls
    `computation.consume_gas`, which calls `GasMeter.consume_gas`, and only then the opcode's
    logic: three Python calls per opcode before any work. `apply_computation` below is py-evm's
    own (eth/vm/computation.py, 0.12.1b1) with that chain inlined for `_FastOpcode`s: the same
    fixed cost is taken from the same gas meter, with the same OutOfGas message, before the same
    logic function runs. Opcodes of other kinds (CALL, CREATE, …) and invalid opcodes go through
    py-evm's path unchanged. With DEBUG2 logging on, py-evm's own loop runs (it logs per opcode).
    """

    def __init__(
        self,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
    ) -> None:
        super().__init__(state, message, transaction_context)
        self.code = SharedAnalysisCodeStream(message.code)
        self._stack = LedgerStack()

    @classmethod
    def apply_computation(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        """Run `message` as py-evm does; see the class docstring for the one difference."""
        if cls.logger.show_debug2 or GasMeter.logger.show_debug2:
            return super().apply_computation(
                state, message, transaction_context, parent_computation
            )
        with cls(state, message, transaction_context) as computation:
            if computation.is_origin_computation:
                computation.contracts_created = []
                if message.is_create:
                    cls.consume_initcode_gas_cost(computation)
            if parent_computation is not None:
                computation.contracts_created = parent_computation.contracts_created
            if message.is_create:
                computation.contracts_created.append(message.storage_address)
            precompile = computation.precompiles.get(message.code_address, NO_RESULT)
            if precompile is not NO_RESULT:
                if not message.is_delegation:
                    precompile(computation)
                return computation
            _run_code(computation)
        return computation


class LedgerTransactionExecutor(PragueTransactionExecutor):
    """Prague's transaction executor without an eagerly formatted debug line.

    py-evm's `build_evm_message` formats a DEBUG2 message (the transaction's repr, the hex of the
    whole contract code, a keccak of the call data) on every transaction and only then lets the
    logger drop it. This is the same method (eth/vm/forks/cancun/state.py, 0.12.1b1) minus that
    line; with DEBUG2 logging on, py-evm's own method runs.
    """

    def build_evm_message(self, transaction: SignedTransactionAPI) -> MessageAPI:
        """Charge the up-front gas fee, bump the nonce, and return the transaction's message."""
        state = self.vm_state
        if _state_logger(type(state)).show_debug2:
            return super().build_evm_message(transaction)
        sender = transaction.sender
        gas_fee = transaction.gas * state.get_gas_price(transaction)
        blob_data_fee = (
            self.calc_data_fee(cast(BlobTransaction, transaction))
            if transaction.type_id == BLOB_TX_TYPE
            else 0
        )
        state.delta_balance(sender, -1 * (gas_fee + blob_data_fee))
        state.increment_nonce(sender)
        msg_refund = self.calc_message_refund(transaction)
        message_gas = transaction.gas - transaction.intrinsic_gas
        contract_address: Any  # py-evm types it Address but passes None for calls
        if transaction.to == CREATE_CONTRACT_ADDRESS:
            contract_address = generate_contract_address(sender, state.get_nonce(sender) - 1)
            data = b""
            code = transaction.data
            is_delegation = False
        else:
            contract_address = None
            data = transaction.data
            code, delegation_address = self.get_code_at_address(transaction.to)
            is_delegation = delegation_address is not None
        return Message(
            gas=message_gas,
            to=transaction.to,
            sender=sender,
            value=transaction.value,
            data=data,
            code=code,
            create_address=contract_address,
            refund=msg_refund,
            is_delegation=is_delegation,
        )


@cache
def _state_logger(state_class: type) -> ExtendedDebugLogger:
    # The logger py-evm's `BaseState.logger` property builds anew on every access.
    return get_extended_debug_logger(f"eth.vm.state.{state_class.__name__}")


class LedgerState(PragueState):
    """Prague state with one shortcut: a zero fee to a coinbase that does not exist is skipped.

    py-evm pays every transaction's fee with `delta_balance(coinbase, fee)` even when the fee is
    0, which creates the empty coinbase account only for EIP-161 to delete it again at the end of
    the same transaction, about a tenth of a zero-fee contract call's cost. Skipping it when the
    account does not exist leaves exactly the same state. An existing coinbase is still touched.
    """

    computation_class = LedgerComputation
    transaction_executor_class = LedgerTransactionExecutor

    def delta_balance(self, address: EvmAddress, delta: int) -> None:
        """Add `delta` to the balance of `address`, except the no-op case described above."""
        if delta == 0 and address == self.coinbase and not self.account_exists(address):
            return
        super().delta_balance(address, delta)


class InvalidTransaction(ValueError):
    """A transaction cannot be applied on this state (nonce, balance, gas); the message says why."""


def next_base_fee(parent_base_fee: int, parent_gas_used: int, parent_gas_limit: int) -> int:
    """Return the base fee of the next block: always 0 on this network (zeroBaseFee).

    The parameters are those EIP-1559 would use; they are accepted so the override is explicit.
    """
    del parent_base_fee, parent_gas_used, parent_gas_limit
    return 0


@dataclass(frozen=True)
class BlockEnvironment:
    """What a block's execution may observe besides state."""

    number: int
    timestamp: int
    coinbase: bytes
    gas_limit: int
    chain_id: int
    parent_hash: bytes
    previous_hashes: tuple[bytes, ...] = ()  # newest first: parent, grandparent, … (BLOCKHASH)
    base_fee_per_gas: int = 0
    prev_randao: bytes = MIX_HASH
    difficulty: int = DIFFICULTY


@dataclass(frozen=True)
class ExecutedTransaction:
    """A transaction applied in a block, with its receipt."""

    transaction: SignedTransaction
    receipt: ReceiptAPI
    gas_used: int
    contract_address: bytes | None
    encoded_receipt: bytes  # EIP-2718 receipt bytes, made once for the root and for storage


@dataclass
class BlockExecution:
    """The outcome of executing a block's transactions on its parent state."""

    state_root: bytes
    gas_used: int
    bloom: int
    executed: list[ExecutedTransaction]
    rejected: list[tuple[SignedTransaction, str]] = field(default_factory=list)
    deferred: list[SignedTransaction] = field(default_factory=list)
    transactions_root: bytes = b""
    receipts_root: bytes = b""
    requests_hash: bytes = EMPTY_REQUESTS_HASH


class ExecutionEngine(Protocol):
    """The execution interface the chain depends on."""

    def execute_block(
        self,
        overlay: StateOverlay,
        parent_state_root: bytes,
        environment: BlockEnvironment,
        transactions: Sequence[SignedTransaction],
        *,
        building: bool,
    ) -> BlockExecution:
        """Apply `transactions` in order; persist state nodes into `overlay`.

        Building: skip transactions that cannot be applied (listed in `rejected` with a reason)
        or do not fit the gas limit (`deferred`). Importing: raise InvalidTransaction instead.
        """
        ...

    def call(
        self,
        overlay: StateOverlay,
        state_root: bytes,
        environment: BlockEnvironment,
        request: CallRequest,
        overrides: StateOverrides | None,
    ) -> ComputationAPI:
        """Execute `request` on `state_root` without keeping any change; return the computation."""
        ...

    def state(self, overlay: StateOverlay, state_root: bytes, chain_id: int) -> AccountState:
        """Return read access to the accounts at `state_root`."""
        ...


def _context(environment: BlockEnvironment) -> ExecutionContext:
    # py-evm types these as NewTypes of bytes/int; ours are plain, so pass them untyped.
    fields: dict[str, Any] = dict(
        coinbase=environment.coinbase,
        timestamp=environment.timestamp,
        block_number=environment.number,
        difficulty=environment.difficulty,
        mix_hash=environment.prev_randao,
        gas_limit=environment.gas_limit,
        prev_hashes=environment.previous_hashes,
        chain_id=environment.chain_id,
        base_fee_per_gas=environment.base_fee_per_gas,
        excess_blob_gas=0,
    )
    return ExecutionContext(**fields)


def contract_address_of(sender: bytes, nonce: int) -> bytes:
    """Return the CREATE address for `sender` at `nonce`."""
    return bytes(generate_contract_address(cast(EvmAddress, sender), nonce))


class AccountState:
    """Read access to the accounts at one state root, on plain bytes addresses."""

    def __init__(self, state: PragueState) -> None:
        self._state = state

    def balance(self, address: bytes) -> int:
        """Return the balance of `address` in wei."""
        return int(self._state.get_balance(cast(EvmAddress, address)))

    def nonce(self, address: bytes) -> int:
        """Return the nonce of `address`."""
        return int(self._state.get_nonce(cast(EvmAddress, address)))

    def code(self, address: bytes) -> bytes:
        """Return the code of `address`."""
        return bytes(self._state.get_code(cast(EvmAddress, address)))

    def storage(self, address: bytes, slot: int) -> int:
        """Return one storage slot of `address`."""
        return int(self._state.get_storage(cast(EvmAddress, address), slot))


def _apply_override(state: Any, address: bytes, override: AccountOverride) -> None:
    if override.state is not None and override.state_diff is not None:
        raise InvalidTransaction(
            f"state override for 0x{address.hex()} sets both state and stateDiff"
        )
    if override.balance is not None:
        state.set_balance(address, override.balance)
    if override.nonce is not None:
        state.set_nonce(address, override.nonce)
    if override.code is not None:
        state.set_code(address, override.code)
    if override.state is not None:
        state.delete_storage(address)
        for slot, value in override.state.items():
            state.set_storage(address, slot, value)
    if override.state_diff is not None:
        for slot, value in override.state_diff.items():
            state.set_storage(address, slot, value)


class PyEvmEngine:
    """ExecutionEngine on py-evm's Prague state (`LedgerState`; tests compare `PragueState`)."""

    def __init__(self, state_class: type[PragueState] = LedgerState) -> None:
        self.state_class = state_class

    def state(self, overlay: StateOverlay, state_root: bytes, chain_id: int) -> AccountState:
        """Return read access at `state_root` (block context is irrelevant for reads)."""
        environment = BlockEnvironment(0, 0, ZERO_ADDRESS, 0, chain_id, b"\x00" * 32)
        return AccountState(
            self.state_class(overlay, _context(environment), cast(EvmHash32, state_root))
        )

    def execute_block(
        self,
        overlay: StateOverlay,
        parent_state_root: bytes,
        environment: BlockEnvironment,
        transactions: Sequence[SignedTransaction],
        *,
        building: bool,
    ) -> BlockExecution:
        """Apply the transactions of one block; see ExecutionEngine.execute_block."""
        state = self.state_class(overlay, _context(environment), cast(EvmHash32, parent_state_root))
        if state.get_code(HISTORY_STORAGE_ADDRESS) == HISTORY_STORAGE_CONTRACT_CODE:
            state.set_storage(
                HISTORY_STORAGE_ADDRESS,
                (environment.number - 1) % HISTORY_SERVE_WINDOW,
                int.from_bytes(environment.parent_hash, "big"),
            )
        executed: list[ExecutedTransaction] = []
        result = BlockExecution(state_root=b"", gas_used=0, bloom=0, executed=executed)
        cumulative = 0
        bloom = 0
        for signed in transactions:
            tx = signed.tx
            if cumulative + signed.gas > environment.gas_limit:
                if building:
                    result.deferred.append(signed)
                    continue
                raise InvalidTransaction(
                    f"transaction 0x{signed.hash.hex()} needs {signed.gas} gas; "
                    f"only {environment.gas_limit - cumulative} left in the block"
                )
            state.lock_changes()
            snapshot = state.snapshot()
            try:
                computation = state.apply_transaction(tx)
            except ValidationError as error:
                state.revert(snapshot)
                if building:
                    result.rejected.append((signed, str(error)))
                    continue
                raise InvalidTransaction(
                    f"transaction 0x{signed.hash.hex()} is invalid: {error}"
                ) from error
            gas_used = PragueVM.finalize_gas_used(tx, computation)
            cumulative += gas_used
            status = (
                EIP658_TRANSACTION_STATUS_CODE_FAILURE
                if computation.is_error
                else EIP658_TRANSACTION_STATUS_CODE_SUCCESS
            )
            receipt = tx.make_receipt(status, cumulative, computation.get_log_entries())
            bloom |= receipt.bloom
            created = None
            if tx.to == CREATE_CONTRACT_ADDRESS:
                created = contract_address_of(signed.sender, signed.nonce)
            executed.append(
                ExecutedTransaction(signed, receipt, gas_used, created, receipt.encode())
            )
        state.persist()
        result.state_root = bytes(state.state_root)
        result.gas_used = cumulative
        result.bloom = bloom
        result.transactions_root = ordered_trie_root([item.transaction.raw for item in executed])
        result.receipts_root = ordered_trie_root([item.encoded_receipt for item in executed])
        return result

    def call(
        self,
        overlay: StateOverlay,
        state_root: bytes,
        environment: BlockEnvironment,
        request: CallRequest,
        overrides: StateOverrides | None,
    ) -> ComputationAPI:
        """Run `request` on a throwaway state; the caller discards `overlay` afterwards."""
        state = self.state_class(overlay, _context(environment), cast(EvmHash32, state_root))
        for address, override in (overrides or {}).items():
            _apply_override(state, bytes(address), override)
        sender = bytes(request.sender) if request.sender is not None else ZERO_ADDRESS
        gas_price = request.gas_price
        if gas_price is None:
            gas_price = request.max_fee_per_gas or 0
        nonce = (
            request.nonce
            if request.nonce is not None
            else state.get_nonce(cast(EvmAddress, sender))
        )
        gas = request.gas if request.gas is not None else environment.gas_limit
        unsigned = PragueUnsignedLegacyTransaction(
            nonce=nonce,
            gas_price=gas_price,
            gas=gas,
            to=bytes(request.to) if request.to is not None else CREATE_CONTRACT_ADDRESS,
            value=request.value,
            data=bytes(request.data),
        )
        spoofed: Any = SpoofTransaction(
            unsigned,
            from_=to_canonical_address(sender),
            max_fee_per_gas=gas_price,
            max_priority_fee_per_gas=gas_price,
            type_id=None,
            access_list=(),
        )
        # The sender needs no real ether: like geth, eth_call runs with the gas fee waived when
        # no price is given, and value transfers still need the balance.
        try:
            return state.apply_transaction(spoofed)
        except ValidationError as error:
            raise InvalidTransaction(str(error)) from error
