"""Peer transport between consortium nodes: mutual TLS, framing, message codec, gossip, sync.

Talks to the node through a small interface; never imports `node` internals or `api`.

Modules, from the wire up:

- `codec`: length-prefixed frames and the versioned message set (sans-io, fuzzed);
- `peer`: one link's protocol state: Hello handshake, keepalive, request ids, limits (sans-io);
- `identity`, `pki`, `tls`: node keys, the consortium CA, certificates binding a node key, TLS 1.3;
- `permissions`: the permission file, the on-chain hook and admission of a peer's certificate;
- `seen`, `backoff`: gossip de-duplication and reconnect delays;
- `ports`: the Protocols the node implements (`BlockSource`, `TxSink`, `ConsensusSink`,
  `BlockImporter`);
- `config`, `session`, `transport`: the asyncio `NetworkService` that runs it all;
- `settings`, `datadir`, `genesis`, `cli`: the files `mykey net init` writes and how a node opens
  its network from its data directory (`datadir.open_network`).
"""
