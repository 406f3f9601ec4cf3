"""Entry point of `python -m card_bridge.virtual_card`; see `command`."""

from __future__ import annotations

import sys

from card_bridge.virtual_card.command import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
