"""What every console page shares: the templates, the signed-in user's rights,
the way errors read, and the answers (page, redirect, refusal)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from api.auth import AUDIT, DISPATCH, MANAGE, NOTE, WORK, ForbiddenError, allowed
from api.console.session import Session, SessionKeeper
from api.problems import STATUS_MAP
from ledger.errors import LedgerError

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")

#: Badge colours of assignment statuses (seed 002's AssignmentHistory, plus the
#: statuses it did not have); each pair meets WCAG AA contrast.
STATUS_BADGES = {
    "assigned": "blue", "accepted": "green", "in_progress": "yellow", "completed": "green",
    "rejected": "red", "failed": "red", "escalated": "purple", "reassigned": "grey",
    "removed": "grey", "open": "blue", "resolved": "green", "closed": "grey",
    "acknowledged": "yellow",
}
ACTIVE = ("assigned", "accepted", "in_progress")
#: The dispatch board: the console's home (``/console`` redirects here).
BOARD = "/console/"


def relative(value: str | None, now: datetime | None = None) -> str:
    """``3 minutes ago`` / ``in 2 hours`` for an RFC 3339 time."""
    if not value:
        return ""
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    seconds = ((now or datetime.now(timezone.utc)) - at).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            text = f"{n} {unit}{'' if n == 1 else 's'}"
            break
    else:
        return "just now"
    return f"in {text}" if future else f"{text} ago"


def short_hash(value: str | None) -> str:
    return (value or "")[:12]


TEMPLATES.env.filters["relative"] = relative
TEMPLATES.env.filters["short_hash"] = short_hash
TEMPLATES.env.globals["badge"] = lambda status: STATUS_BADGES.get(status or "", "grey")


def rights(session: Session) -> dict[str, bool]:
    """Which kinds of button the signed-in role sees (the server checks again)."""
    role = session.principal.role
    return {
        "dispatch": allowed(DISPATCH, role), "work": allowed(WORK, role),
        "audit": allowed(AUDIT, role), "manage": allowed(MANAGE, role),
        "note": allowed(NOTE, role),
    }


def may_work_on(session: Session, assignment: dict[str, Any]) -> bool:
    """Whether the user sees Accept/Start/... on this assignment: an engineer on
    their own, an admin on any (as the API's ``require_own_assignment``)."""
    p = session.principal
    return allowed(WORK, p.role) and (p.role != "engineer" or assignment["engineer_id"] == p.name)


def problem_detail(error: Exception) -> tuple[int, str]:
    """(status, readable message) of an error, as the API would answer it."""
    if isinstance(error, ValidationError):
        parts = []
        for e in error.errors():
            field = ".".join(str(x) for x in e.get("loc", ()))
            parts.append(f"{field}: {e.get('msg')}" if field else str(e.get("msg")))
        return 422, "; ".join(parts)
    if isinstance(error, ForbiddenError):
        return 403, error.detail
    for cls, status, _slug, _title in STATUS_MAP:
        if isinstance(error, cls):
            return status, str(error)
    if isinstance(error, LedgerError):
        return 400, str(error)
    raise error


def local_path(value: str | None, default: str = BOARD) -> str:
    """``value`` if it is a path of the console (no other host), else ``default``."""
    inside = value == "/console" or value.startswith("/console/") if value else False
    if value and inside and "//" not in value and "\\" not in value:
        return value
    return default


def page(
    request: Request, template: str, session: Session | None, keeper: SessionKeeper,
    status: int = 200, **context: Any,
) -> Response:
    """A whole page, with the user's rights and the message left for it (if any)."""
    flash = keeper.read_flash(request) if session is not None else None
    rendered = TEMPLATES.TemplateResponse(request, template, {
        "session": session, "rights": rights(session) if session else {}, "flash": flash,
        "path": request.url.path, **context,
    }, status_code=status)
    if session is not None:
        keeper.clear_flash(request, rendered)
    return harden(rendered)


#: Every script, style, image and connection from this host only, no framing,
#: no inline script or style (so an injected one would not run either).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "object-src 'none'")


def harden(response: Response) -> Response:
    """The headers of every console page and fragment: never cached (they show
    one user's view), and the content security policy."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def back(keeper: SessionKeeper, to: str, kind: str, text: str) -> RedirectResponse:
    """After a form post: back to the page, with a message shown there once."""
    response = RedirectResponse(to, status_code=303)
    keeper.flash(response, kind, text)
    return response


def to_login(request: Request) -> RedirectResponse:
    """The sign-in page, coming back here afterwards (a deep link)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/console/login?{urlencode({'next': target})}", status_code=303)


def refused(request: Request, keeper: SessionKeeper, session: Session | None, detail: str,
            status: int = 403) -> Response:
    return page(request, "refused.html", session, keeper, status=status, detail=detail)
