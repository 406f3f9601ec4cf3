"""The point ledger's Solidity contracts: sources, pinned compiler, artifacts, Python bindings."""
