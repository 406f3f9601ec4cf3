"""The point ledger's Solidity contracts as a Python package: artifacts, deployment, typed calls.

- `contracts.artifacts`: the committed compiled artifacts (no Node.js or solc needed).
- `contracts.deploy`: `deploy_ledger`, `upgrade`, and `Deployment` (addresses, saved as JSON).
- `contracts.client`: `LedgerClient`, one typed method per action, views, decoded events.
- `contracts.attestation`: EIP-712 attestations the platform verifier signs (two-party spending).
- `contracts.events` / `contracts.errors`: log decoding, topics, readable refusals.
- `contracts.demo`: `deploy_demo`, the demo consortium `mykey dev` starts with.

This package imports only web3, eth-abi, eth-account and eth-utils (tests/test_boundaries.py).
"""
