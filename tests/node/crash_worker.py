"""A node-core process for the crash test: submit transactions and produce blocks until killed.

Run as `python -m tests.node.crash_worker DATADIR LOGFILE SEED`. Every accepted transaction hash
and every produced block is appended to LOGFILE (flushed, so a SIGKILL loses no written line)
after the ledger call returned: a logged line is a promise the restarted node must keep.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from eth_account import Account

from node.execution import contract_address_of
from node.ledger import open_ledger
from node.ports import Address, TxRejected
from tests.node.conftest import TEST_USER_KEYS
from tests.node.helpers import grant_data, sign
from tests.node.point_contract import POINTS_BYTECODE


def main(argv: list[str]) -> int:
    """Loop forever (until killed)."""
    datadir, logfile, seed = Path(argv[0]), Path(argv[1]), int(argv[2])
    rng = random.Random(seed)
    ledger = open_ledger(datadir)
    accounts = [Account.from_key(key) for key in TEST_USER_KEYS[:3]]
    deployer = accounts[0]
    with logfile.open("a", encoding="ascii") as log:
        log.write(f"start head={ledger.chain.head().number}\n")
        log.flush()
        deployer_address = Address(bytes.fromhex(deployer.address[2:]))
        if ledger.txpool.pending_nonce(deployer_address) == 0:
            raw = sign(deployer, nonce=0, to=b"", data=POINTS_BYTECODE, gas=1_000_000)
            log.write(f"accepted {ledger.txpool.submit(raw).hex()}\n")
            log.flush()
        contract = contract_address_of(deployer_address, 0)
        while True:
            for _ in range(rng.randint(1, 25)):
                account = rng.choice(accounts)
                sender = Address(bytes.fromhex(account.address[2:]))
                nonce = ledger.txpool.pending_nonce(sender)
                data = grant_data(
                    rng.randint(1, 5), bytes([rng.randint(65, 90)]) * 8, rng.randint(1, 9)
                )
                try:
                    tx_hash = ledger.txpool.submit(
                        sign(account, nonce=nonce, to=contract, data=data)
                    )
                except TxRejected as error:
                    log.write(f"rejected {error.reason}\n")
                    continue
                log.write(f"accepted {tx_hash.hex()}\n")
                log.flush()
            head = ledger.chain.head_header
            block = ledger.produce_block(float(head.timestamp + 1))
            if block is not None:
                log.write(f"block {block.number} {block.state_root.hex()}\n")
                log.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
