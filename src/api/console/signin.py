"""Signing in and out of the console: the form (field **Token**, button
**Sign in**), its CSRF check, the session cookie, and **Sign out**."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.console.session import CsrfError, SessionDep, authenticate_token, keeper_of
from api.console.views import BOARD, TEMPLATES, harden, local_path, refused

router = APIRouter(include_in_schema=False)


@router.get("/login")
async def login_form(request: Request, session: SessionDep, next: str | None = None) -> Response:  # noqa: A002
    target = local_path(next)
    if session is not None:
        return RedirectResponse(target, status_code=303)
    flash = keeper_of(request).read_flash(request)
    return login_page(request, target, flash[1] if flash else None, 200)


def login_page(request: Request, target: str, error: str | None, status: int) -> Response:
    keeper = keeper_of(request)
    nonce = keeper.login_nonce(request)
    final = TEMPLATES.TemplateResponse(request, "login.html", {
        "session": None, "rights": {}, "flash": None, "path": request.url.path,
        "next": target, "error": error, "nonce": nonce,
    }, status_code=status)
    keeper.set_login_nonce(final, nonce)
    keeper.clear_flash(request, final)
    return harden(final)


@router.post("/login")
async def login(
    request: Request,
    token: Annotated[str, Form(max_length=512)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = BOARD,  # noqa: A002
) -> Response:
    keeper = keeper_of(request)
    target = local_path(next)
    try:
        keeper.check_login_nonce(request, csrf)
    except CsrfError as e:
        return login_page(request, target, str(e), 403)
    principal = await authenticate_token(request, token.strip()) if token.strip() else None
    if principal is None:
        # Back to the form with the message (not a 401 page: a browser would log
        # every mistyped token as a failed load).
        response = RedirectResponse(f"/console/login?{urlencode({'next': target})}",
                                    status_code=303)
        keeper.flash(response, "error", "That token is not a valid API key.")
        return response
    if target == BOARD and principal.role == "engineer":
        target = f"/console/engineers/{principal.name}"
    response = RedirectResponse(target, status_code=303)
    keeper.sign_in(response, token.strip(), principal)
    return response


@router.post("/logout")
async def logout(
    request: Request, session: SessionDep, csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    keeper = keeper_of(request)
    if session is not None:
        try:
            keeper.check_csrf(session, csrf)
        except CsrfError as e:
            return refused(request, keeper, session, str(e))
    response = RedirectResponse("/console/login", status_code=303)
    keeper.sign_out(response)
    return response
