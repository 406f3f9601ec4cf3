"""The API's chain side: keys, transaction sending, ledger adapters, attestations (web3 only)."""
