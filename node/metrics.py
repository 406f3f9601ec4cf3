"""The node's Prometheus metrics, kept in a registry of its own.

One `NodeMetrics` per running node (not the process-global registry), so two nodes embedded in
one test process never share or clash over counters. Method labels are the known method names
or "other", so a client sending random method names cannot blow up the label set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from node.ports import BlockView, LogEntry

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The Content-Type of the text exposition format."""

BLOCK_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


class NodeMetrics:
    """Counters, gauges and histograms for one node, and their text rendering."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.head_block = Gauge(
            "mykey_head_block_number",
            "Number of the latest finalized block",
            registry=self.registry,
        )
        self.txpool_size = Gauge(
            "mykey_txpool_transactions",
            "Transactions waiting in the pool (ready and queued)",
            registry=self.registry,
        )
        self.block_production = Histogram(
            "mykey_block_production_seconds",
            "Time to build, seal, import and persist one block",
            buckets=BLOCK_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.block_transactions = Counter(
            "mykey_block_transactions",
            "Transactions included in produced blocks",
            registry=self.registry,
        )
        self.rpc_requests = Counter(
            "mykey_rpc_requests",
            "JSON-RPC requests handled, by method",
            ["method"],
            registry=self.registry,
        )
        self.rpc_errors = Counter(
            "mykey_rpc_errors",
            "JSON-RPC requests answered with an error, by method and error code",
            ["method", "code"],
            registry=self.registry,
        )
        self.rpc_batches = Counter(
            "mykey_rpc_http_bodies",
            "HTTP JSON-RPC bodies received (a batch counts once)",
            registry=self.registry,
        )

    def observe_request(self, method: str, code: int | None, seconds: float) -> None:
        """Count one JSON-RPC request (the dispatcher's observer hook)."""
        self.rpc_requests.labels(method).inc()
        if code is not None:
            self.rpc_errors.labels(method, str(code)).inc()

    def observe_block(self, seconds: float, number: int | None, transactions: int) -> None:
        """Record one block-production attempt; `number` None when no block was made."""
        self.block_production.observe(seconds)
        if number is not None:
            self.head_block.set(number)
            self.block_transactions.inc(transactions)

    def on_head(self, block: BlockView, logs: Sequence[LogEntry]) -> None:
        """HeadListener: follow the head however a block arrived (produced or imported)."""
        self.head_block.set(block.number)

    def track_txpool(self, size: Callable[[], int]) -> None:
        """Read the pool size at each scrape."""
        self.txpool_size.set_function(lambda: float(size()))

    def render(self) -> bytes:
        """Return all metrics in the Prometheus text format."""
        return generate_latest(self.registry)
