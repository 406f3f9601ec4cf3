"""What every page router shares: the renderer, the pages' settings, and the explorer's reader.

Built once by `api.pages.mount_pages` and passed to each router factory; nothing here is global,
so two apps in one process (as tests build) share nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.pages.chain_reader import ChainReader
from api.pages.rendering import Renderer
from api.pages.settings import PagesSettings


@dataclass(frozen=True)
class PagesRuntime:
    """The pages' collaborators."""

    settings: PagesSettings
    renderer: Renderer
    chain: ChainReader | None
    """None when no RPC URL is configured: chain-backed panels say 'not connected'."""
