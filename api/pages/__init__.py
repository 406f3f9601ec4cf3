"""Server-rendered pages for people in a browser: My Page, the staff console, the explorer.

`mount_pages(app, settings)` adds the page routers and `/static` to an app built by
`api.app.create_app`. The pages call the API's services in-process (never the HTTP API over the
network) and reach the ledger only through JSON-RPC. Japanese first, English with `?lang=en`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from api.pages import (
    explorer,
    my_page,
    my_partners,
    registration,
    staff,
    staff_programme,
    treasurer,
)
from api.pages.chain_reader import ChainReader
from api.pages.rendering import Renderer
from api.pages.runtime import PagesRuntime
from api.pages.settings import PagesSettings

STATIC = Path(__file__).resolve().parent.parent / "static"

__all__ = ["PagesSettings", "mount_pages"]


def mount_pages(app: FastAPI, settings: PagesSettings) -> PagesRuntime:
    """Add the pages and their static files to `app`; return what they share."""
    chain = (
        ChainReader(
            settings.rpc_url,
            deployment=settings.deployment,
            timeout_seconds=settings.rpc_timeout_seconds,
        )
        if settings.rpc_url
        else None
    )
    runtime = PagesRuntime(
        settings=settings,
        renderer=Renderer(secure_cookies=settings.secure_cookies),
        chain=chain,
    )

    @app.get("/", include_in_schema=False)
    def index(request: Request) -> Response:
        return runtime.renderer.render(request, "index.html", {"section": "home"})

    for module in (registration, my_page, my_partners, treasurer, staff_programme, staff, explorer):
        app.include_router(module.build_router(runtime))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.state.pages = runtime
    return runtime
