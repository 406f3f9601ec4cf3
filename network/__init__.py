"""Peer transport between consortium nodes: mutual TLS, framing, message codec, gossip, sync.

Talks to the node through a small interface; never imports `node` internals or `api`.
"""
