"""Keepers: scheduled work that records the ledger's lazily evaluated rules as events.

Balances already show reserves gone home and expired points at every moment; the keepers make
the ledger *record* them (`sweepReserves`, `sweepExpired`) so their events reach the index, the
residents' notices and the explorer's totals without anyone acting. A keeper's absence changes
nothing a reader of balances sees; its presence only makes the recorded figures catch up.
"""
