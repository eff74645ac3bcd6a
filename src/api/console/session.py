"""The console's sign-in session: a signed, expiring cookie, and CSRF tokens.

The cookie holds the SHA-256 of the API key's token (never the token), the
principal, the role and a per-session CSRF token, signed with itsdangerous and
timestamped; it is HttpOnly, SameSite=Strict and scoped to ``/console``. Each
request checks the key again (``Authenticator.lookup``), so a revoked key ends
its sessions at once.

The signing secret is ``LEDGER_CONSOLE_SECRET``; without it, one derived
(HKDF-SHA256) from the ledger's checkpoint signing key, so every process that
serves a ledger with that key (``--workers``) accepts the others' cookies, and
sessions survive a restart.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool

from api.auth import ADMIN, AuthenticationError, Principal
from ledger.keys import hash_token

SESSION_COOKIE = "ledger_console"
LOGIN_COOKIE = "ledger_console_login"
FLASH_COOKIE = "ledger_console_flash"
COOKIE_PATH = "/console"
#: How long a sign-in lasts (``LEDGER_CONSOLE_SESSION_HOURS``, default 8).
DEFAULT_SESSION_HOURS = 8.0
#: A login form must be sent within this many seconds of being shown.
LOGIN_FORM_SECONDS = 3600
#: A message shown once on the next page must be read within this many seconds.
FLASH_SECONDS = 60


class CsrfError(Exception):
    """Raised when a form post's CSRF token is missing or wrong (403)."""


@dataclass(frozen=True)
class Session:
    """A signed-in console user: who, and the CSRF token their forms carry."""

    principal: Principal
    csrf: str


class SessionKeeper:
    """Signs and reads the console's cookies for one app."""

    def __init__(self, secret: str, hours: float | None = None) -> None:
        self.max_age = int(3600 * (hours or float(
            os.environ.get("LEDGER_CONSOLE_SESSION_HOURS") or DEFAULT_SESSION_HOURS)))
        self._session = URLSafeTimedSerializer(secret, salt="ledger-console-session")
        self._login = URLSafeTimedSerializer(secret, salt="ledger-console-login")
        self._flash = URLSafeTimedSerializer(secret, salt="ledger-console-flash")

    # ------------------------------------------------------------ cookies

    @staticmethod
    def _set(response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name, value, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="strict",
        )

    @staticmethod
    def _clear(response: Response, name: str) -> None:
        response.delete_cookie(name, path=COOKIE_PATH, httponly=True, samesite="strict")

    def sign_in(self, response: Response, token: str, principal: Principal) -> None:
        value = self._session.dumps({
            "d": hash_token(token), "n": principal.name, "r": principal.role,
            "c": secrets.token_urlsafe(24),
        })
        self._set(response, SESSION_COOKIE, value, self.max_age)
        self._clear(response, LOGIN_COOKIE)

    def sign_out(self, response: Response) -> None:
        self._clear(response, SESSION_COOKIE)

    def login_nonce(self, request: Request) -> str:
        """The CSRF token of the login form (double submit: the same value in a
        signed cookie, ``set_login_nonce``, and in the form): the one the
        browser holds, if still valid, else a new one."""
        return self.read_login_nonce(request) or secrets.token_urlsafe(24)

    def set_login_nonce(self, response: Response, nonce: str) -> None:
        self._set(response, LOGIN_COOKIE, self._login.dumps(nonce), LOGIN_FORM_SECONDS)

    def read_login_nonce(self, request: Request) -> str | None:
        raw = request.cookies.get(LOGIN_COOKIE)
        if not raw:
            return None
        try:
            value = self._login.loads(raw, max_age=LOGIN_FORM_SECONDS)
        except BadSignature:
            return None
        return value if isinstance(value, str) else None

    def check_login_nonce(self, request: Request, sent: str | None) -> None:
        expected = self.read_login_nonce(request)
        if not expected or not sent or not hmac.compare_digest(expected, sent):
            raise CsrfError("The sign-in form has expired; please try again.")

    def flash(self, response: Response, kind: str, text: str) -> None:
        """A message for the next page shown (after a redirect)."""
        self._set(response, FLASH_COOKIE, self._flash.dumps([kind, text]), FLASH_SECONDS)

    def read_flash(self, request: Request) -> tuple[str, str] | None:
        raw = request.cookies.get(FLASH_COOKIE)
        if not raw:
            return None
        try:
            kind, text = self._flash.loads(raw, max_age=FLASH_SECONDS)
        except (BadSignature, ValueError, TypeError):
            return None
        return str(kind), str(text)

    def clear_flash(self, request: Request, response: Response) -> None:
        """Shown once: the page that shows the message removes it."""
        if FLASH_COOKIE in request.cookies:
            self._clear(response, FLASH_COOKIE)

    # ------------------------------------------------------------ sessions

    def _claims(self, request: Request) -> dict[str, Any] | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            claims = self._session.loads(raw, max_age=self.max_age)
        except BadSignature:  # includes SignatureExpired
            return None
        if not isinstance(claims, dict) or not all(k in claims for k in "dnrc"):
            return None
        return claims

    async def session(self, request: Request) -> Session | None:
        """The signed-in user, if the cookie is valid and its key still is."""
        claims = self._claims(request)
        if claims is None:
            return None
        services = request.app.state.services
        principal = await run_in_threadpool(_principal_of_digest, services, claims["d"])
        if principal is None:
            return None
        return Session(principal, claims["c"])

    @staticmethod
    def check_csrf(session: Session, sent: str | None) -> None:
        if not sent or not hmac.compare_digest(session.csrf, sent):
            raise CsrfError("This form has expired or did not come from the console; "
                            "reload the page and try again.")


def _principal_of_digest(services: Any, digest: str) -> Principal | None:
    """The principal whose token hashes to ``digest``, if it is still valid: the
    admin token (LEDGER_ADMIN_TOKEN) or an API key that is not revoked."""
    admin_token = services.settings.admin_token
    if admin_token and hmac.compare_digest(hash_token(admin_token), digest):
        return Principal(services.auth.admin_name, ADMIN)
    row = services.auth.lookup(digest)
    if row is None or row["revoked"]:
        return None
    return Principal(row["name"], row["role"], str(row["id"]))


async def authenticate_token(request: Request, token: str) -> Principal | None:
    """The principal of a token typed on the sign-in page, or None."""
    auth = request.app.state.services.auth
    try:
        return auth.known(token) or await run_in_threadpool(auth.authenticate, token)
    except AuthenticationError:
        return None


def derived_secret(services: Any) -> str:
    """A secret for the console's cookies, derived from the checkpoint signing
    key (which every process of one ledger shares), with its own label: knowing
    it says nothing about the key."""
    raw = services.audit.signer.private_key.private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return HKDF(algorithm=SHA256(), length=32, salt=None,
                info=b"assignment-ledger console session cookies").derive(raw).hex()


def keeper_of(request: Request) -> SessionKeeper:
    """The app's keeper, made on first use (the services exist by then)."""
    state = request.app.state
    keeper = getattr(state, "console_keeper", None)
    if keeper is None:
        secret = os.environ.get("LEDGER_CONSOLE_SECRET") or derived_secret(state.services)
        keeper = state.console_keeper = SessionKeeper(secret)
    return keeper


async def optional_session(request: Request) -> Session | None:
    return await keeper_of(request).session(request)


#: A route's signed-in user, or None (the route sends them to sign in).
SessionDep = Annotated[Session | None, Depends(optional_session)]
