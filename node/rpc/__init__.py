"""Ethereum JSON-RPC 2.0 for the ledger node, over HTTP and WebSocket.

`codec` turns ledger views into geth-shaped JSON and parses parameters; `methods` holds the
`eth_`, `net_`, `web3_` and `qbft_` handlers; `dispatch` applies the JSON-RPC 2.0 envelope rules
(batches, error codes, limits); `filters` keeps polling filters; `server` is the aiohttp edge.
The layer talks to the ledger only through the Protocols of `node.ports`.
"""
