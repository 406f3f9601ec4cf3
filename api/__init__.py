"""The FastAPI layer for residents, counters, municipalities, partners, treasurers and operators.

Reaches the ledger only through standard Ethereum JSON-RPC; never imports `node` internals.
"""
