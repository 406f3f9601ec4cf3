"""The chain indexer: finalized ledger events into the private store's `chain_events` table."""
