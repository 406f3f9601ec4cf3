"""The counter terminal program, `mykey counter` (DOMAIN.md flows 2 and 4).

Layers: `ports` (what the counter needs from the API: the `CounterApi` Protocol and its data),
`http_api` + `signing` (that Protocol over HTTP, each request signed by the terminal's key, as
docs/terminal-requests.md specifies), `session` (`CounterSession`: the steps with the card and
the API, returning outcome objects), `render` (outcomes in words), and two front ends that only
render: `text_ui` (a terminal, works over SSH) and `web` (a page for tablets on 127.0.0.1).
Delivery of a service ID: `barcode_views` and `code128` (B), `keyboard` (C), `labels` (D).

Invariants: the PIN goes only to the card; only the card's certificate and signature go to the
API; the 12-digit Individual Number is never read (the card layer's allow-list).
"""

from __future__ import annotations


def main(argv: list[str]) -> int:
    """`mykey counter ...`: see `card_bridge.counter.cli`."""
    from card_bridge.counter.cli import main as run  # noqa: PLC0415 - keep `mykey` start fast

    return run(argv)
