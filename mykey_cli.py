"""The `mykey` command: one entry point, a subcommand per part of the system.

This module is the composition root's front door: it only parses the first word and hands the
rest of the argument list to the package that owns that subcommand, imported on demand so that
`mykey card status` never loads py-evm and `mykey node run` never loads pyscard.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

#: subcommand -> (module with a `main(argv) -> int`, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "dev": ("mykey_dev", "start the embedded default: ledger, contracts, demo, API and pages"),
    "node": ("node.cli", "initialise and run a ledger node"),
    "net": ("network.cli", "make and run a consortium network of nodes"),
    "card": ("card_bridge.cli", "check a card reader and a My Number Card (JPKI)"),
    "counter": ("card_bridge.counter", "the counter terminal program"),
    "api": ("api.cli", "run the API and pages"),
}


def usage() -> str:
    """Return the top-level help text."""
    lines = ["usage: mykey <command> [options]", "", "commands:"]
    lines += [f"  {name:<8} {text}" for name, (_, text) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch `mykey <command> ...`; return the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    command, rest = args[0], args[1:]
    if command not in SUBCOMMANDS:
        print(f"mykey: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module_name = SUBCOMMANDS[command][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and module_name.startswith(error.name):
            print(f"mykey: `{command}` is not available in this build yet", file=sys.stderr)
            return 2
        raise
    entry = getattr(module, "main")  # noqa: B009 - the module is chosen at run time
    return int(entry(rest))


if __name__ == "__main__":
    raise SystemExit(main())
