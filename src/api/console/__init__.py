"""The console: web pages for dispatchers, engineers, auditors and operators,
served by the ledger itself (Jinja2 templates, htmx; no other host, no build).

``install(app)`` adds its routes and static files to an app; nothing is built
at import time beyond the routers' route tables."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.console.session import SessionKeeper
from api.console.views import HERE


def install(app: FastAPI) -> None:
    """Serves the console at ``/console`` (and ``/`` redirects there)."""
    from api.console import actions, pages

    app.state.console_keeper = SessionKeeper()
    app.include_router(pages.router)
    app.include_router(actions.router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
