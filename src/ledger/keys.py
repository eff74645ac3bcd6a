"""API keys: who may call the REST API, as an event-sourced, auditable aggregate.

A key is created with a principal name and a role and can be revoked; both are
events in the ledger (``ApiKey.Issued``, ``ApiKey.Revoked``), so who issued or
revoked which key, and when, is as auditable as any ticket. The raw token is
shown once, when the key is created, and never stored: events (and the
``api_keys`` read table) hold only its SHA-256.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.adapter import create
from ledger.errors import ConflictError

#: Roles, from most to least powerful. The API's policy table says what each may do.
ADMIN = "admin"
DISPATCHER = "dispatcher"
ENGINEER = "engineer"
AUDITOR = "auditor"
ROLES = (ADMIN, DISPATCHER, ENGINEER, AUDITOR)

#: Every token starts with this, so a leaked one is easy to recognise (and to scan for).
TOKEN_PREFIX = "ledger_"

#: Principal names follow engineer ids: an engineer's key is named after their id.
PRINCIPAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def new_token() -> str:
    """A fresh random token: the prefix plus 256 bits of URL-safe randomness."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token: what is stored and looked up, never the token.

    A plain (unsalted, fast) hash is enough here because tokens are 256-bit random
    values, not passwords: there is nothing to brute-force or look up in a table."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_principal(name: str, role: str) -> None:
    if not PRINCIPAL_NAME.match(name):
        msg = f"Key name {name!r} must match {PRINCIPAL_NAME.pattern}."
        raise ValueError(msg)
    if role not in ROLES:
        msg = f"Role {role!r} is not one of {', '.join(ROLES)}."
        raise ValueError(msg)


class KeyRevokedError(ConflictError):
    """Raised when a key that is already revoked is revoked again."""


class ApiKey(Aggregate):
    """One API key: a principal name, a role and the hash of its token."""

    class Issued(Aggregate.Created):
        name: str
        role: str
        token_sha256: str
        actor: str

        def apply(self, key: ApiKey) -> None:
            key.name = self.name
            key.role = self.role
            key.token_sha256 = self.token_sha256
            key.revoked = False

    class Revoked(Aggregate.Event):
        reason: str | None
        actor: str

        def apply(self, key: ApiKey) -> None:
            key.revoked = True

    @classmethod
    def create(
        cls, *, key_id: UUID, name: str, role: str, token: str, actor: str
    ) -> ApiKey:
        check_principal(name, role)
        return create(cls, cls.Issued, id=key_id, name=name, role=role,
                      token_sha256=hash_token(token), actor=actor)

    def revoke(self, *, reason: str | None, actor: str) -> None:
        if self.revoked:
            msg = f"Key {self.id} ({self.name}) is already revoked."
            raise KeyRevokedError(msg)
        self.trigger_event(self.Revoked, reason=reason, actor=actor)
