"""The ledger node: genesis, chain on py-evm, storage on LevelDB, txpool, QBFT, JSON-RPC.

May import `network` and `contracts`; never `api`, `card_bridge` or fastapi.
"""
