"""The console: web pages for dispatchers, engineers, auditors and operators,
served by the ledger itself (Jinja2 templates, htmx; no other host, no build).

``install(app)`` mounts it at ``/console/``. Mounted, not included: its pages
are not API endpoints (no bearer token, not in the OpenAPI document, outside
the role policy table that ``check_policy`` enforces); each page checks the
sign-in session itself. ``/`` and ``/console`` redirect to the board."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request

from api.console.views import BOARD, HERE


async def to_board(request: Request) -> RedirectResponse:
    return RedirectResponse(BOARD, status_code=307)


def install(app: FastAPI) -> None:
    """Serves the console under ``/console/`` (and ``/`` redirects there)."""
    from api.console import actions, audit, pages, reports, signin, webhook_actions

    console = APIRouter()
    console.include_router(signin.router)
    console.include_router(pages.router)
    console.include_router(actions.router)
    console.include_router(reports.router)
    console.include_router(audit.router)
    console.include_router(webhook_actions.router)
    console.mount("/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_route("/", to_board, include_in_schema=False)
    app.add_route("/console", to_board, include_in_schema=False)
    app.mount("/console", console)
