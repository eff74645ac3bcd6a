"""RFC 9457 problem+json for every error, and the one place where domain errors
become HTTP statuses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError

from api.auth import AuthenticationError, ForbiddenError
from ledger import errors
from projections.queries import CursorError

log = logging.getLogger("ledger.api")

PROBLEM = "application/problem+json"
TYPE_BASE = "https://assignment-ledger.dev/problems/"
#: Seconds a client is told to wait (Retry-After) when storage is unavailable.
RETRY_AFTER = "2"

#: Domain error class -> (status, problem type slug, title). Most specific first.
STATUS_MAP: list[tuple[type[Exception], int, str, str]] = [
    (errors.TicketNotFoundError, 404, "ticket-not-found", "Ticket not found"),
    (errors.AssignmentNotFoundError, 404, "assignment-not-found", "Assignment not found"),
    (errors.EngineerNotFoundError, 404, "engineer-not-found", "Engineer not found"),
    (errors.ApiKeyNotFoundError, 404, "api-key-not-found", "API key not found"),
    (errors.WebhookNotFoundError, 404, "webhook-not-found", "Webhook not found"),
    (errors.WebhookTargetError, 400, "webhook-target-refused", "Webhook target refused"),
    (errors.InvalidReferenceError, 422, "invalid-engineer", "Unknown or inactive engineer"),
    (errors.StaleVersionError, 412, "stale-version", "Version is stale"),
    (errors.TicketExistsError, 409, "ticket-exists", "Ticket id already taken"),
    (errors.EngineerExistsError, 409, "engineer-exists", "Engineer id already taken"),
    (errors.ConcurrentUpdateError, 409, "concurrent-update", "Concurrent update"),
    (errors.NoEligibleEngineerError, 409, "no-eligible-engineer", "No engineer qualifies"),
    (errors.EngineerNotQualifiedError, 409, "engineer-not-qualified", "Engineer not qualified"),
    (errors.ConflictError, 409, "invalid-state", "Not allowed in the current state"),
    (errors.StorageUnavailableError, 503, "storage-unavailable", "Storage unavailable"),
]


#: Failures to reach the database, from reads that do not go through the Ledger.
STORAGE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError,
    TimeoutError,
)


class BadRequestError(Exception):
    """Raised when a request is malformed in a way the schema cannot express."""

    def __init__(self, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


def problem(
    status: int,
    title: str,
    detail: str,
    slug: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    for cls, status, slug, title in STATUS_MAP:
        if isinstance(exc, cls):
            headers: dict[str, str] = {}
            if status == 503:
                headers["Retry-After"] = RETRY_AFTER
                storage_failed(request)
            if isinstance(exc, errors.StaleVersionError):
                headers["ETag"] = f'"{exc.current_version}"'
            extra: dict[str, Any] = {}
            if isinstance(exc, errors.NoEligibleEngineerError):
                extra["candidates"] = exc.candidates
            if isinstance(exc, errors.EngineerNotQualifiedError):
                extra["unmet"] = exc.unmet
            return problem(status, title, str(exc), slug, headers, **extra)
    return problem(400, "Command refused", str(exc), "command-refused")


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    details = []
    malformed = False
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            malformed = True
        details.append({"loc": list(err.get("loc", ())), "msg": err.get("msg", "invalid")})
    if malformed:
        return problem(400, "Malformed JSON", "The request body is not valid JSON.",
                       "malformed-json", errors=details)
    return problem(422, "Invalid request", "The request does not match the schema.",
                   "validation", errors=details)


#: Titles of the HTTP errors raised by routing, the front door and FastAPI itself.
HTTP_TITLES = {404: "Not found", 405: "Method not allowed", 413: "Request too large",
               415: "Unsupported media type"}


def http_problem(exc: StarletteHTTPException) -> JSONResponse:
    """The problem+json of an ``HTTPException``."""
    return problem(
        exc.status_code, HTTP_TITLES.get(exc.status_code, "Error"), str(exc.detail),
        f"http-{exc.status_code}", getattr(exc, "headers", None),
    )


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return http_problem(exc)


async def _bad_request(request: Request, exc: BadRequestError) -> JSONResponse:
    return problem(exc.status, "Bad request", exc.detail, "bad-request")


async def _cursor_error(request: Request, exc: CursorError) -> JSONResponse:
    return problem(400, "Bad cursor", str(exc), "bad-cursor")


def storage_unavailable() -> JSONResponse:
    return problem(503, "Storage unavailable", "The database cannot be reached; retry shortly.",
                   "storage-unavailable", {"Retry-After": RETRY_AFTER})


def storage_failed(request: Request) -> None:
    """Trips the app's storage gate (``api.outage``): later requests fail fast."""
    gate = getattr(request.app.state, "storage_gate", None)
    if gate is not None:
        gate.trip()


async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    storage_failed(request)
    return storage_unavailable()


def unauthenticated(exc: AuthenticationError) -> JSONResponse:
    return problem(401, "Unauthorized", exc.detail, "unauthorized",
                   {"WWW-Authenticate": 'Bearer realm="assignment-ledger"'})


def forbidden(exc: ForbiddenError) -> JSONResponse:
    return problem(403, "Forbidden", exc.detail, "forbidden")


async def _unauthenticated(request: Request, exc: AuthenticationError) -> JSONResponse:
    return unauthenticated(exc)


async def _forbidden(request: Request, exc: ForbiddenError) -> JSONResponse:
    return forbidden(exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "Internal error", "An unexpected error occurred; it has been logged.",
                   "internal")


def install(app: FastAPI) -> None:
    """Maps every error to problem+json. The handlers are ``async``: Starlette runs
    a plain ``def`` handler in the threadpool, a thread hop per error response."""
    app.add_exception_handler(errors.LedgerError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(BadRequestError, _bad_request)  # type: ignore[arg-type]
    app.add_exception_handler(AuthenticationError, _unauthenticated)  # type: ignore[arg-type]
    app.add_exception_handler(ForbiddenError, _forbidden)  # type: ignore[arg-type]
    app.add_exception_handler(CursorError, _cursor_error)  # type: ignore[arg-type]
    for storage_error in STORAGE_ERRORS:
        app.add_exception_handler(storage_error, _storage_error)
    app.add_exception_handler(Exception, _unexpected)
