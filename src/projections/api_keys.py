"""``api_keys``: one row per API key (never the token itself)."""

from __future__ import annotations

from ledger.keys import ApiKey
from projections.base import Handler, KeyRule, Projection, Rows, row_of
from projections.tables import Column, Table, sid, ts


class ApiKeysProjection(Projection):
    """``api_keys``: one row per API key, looked up by the SHA-256 of a presented
    token. The token itself is never in an event, so never in this table."""

    name = "api_keys"
    version = 1
    table = Table(
        "api_keys",
        (
            Column("id", "uuid", True),
            Column("name", "text", True),
            Column("role", "text", True),
            Column("token_sha256", "text", True),
            Column("revoked", "bool", True),
            Column("created_by"),
            Column("created_position", "int", True),
            Column("created_at", "ts", True),
            Column("revoked_at", "ts"),
            Column("revoked_by"),
            Column("revoke_reason"),
        ),
        key=("id",),
        indexes=(("token_sha256",), ("name",), ("created_position",)),
    )
    tables = (table,)

    def key_rules(self) -> dict[type, KeyRule]:
        return {ApiKey.Revoked: row_of(self.table, "originator_id")}

    def handlers(self) -> dict[type, Handler]:
        return {ApiKey.Issued: self._created, ApiKey.Revoked: self._revoked}

    def _created(self, e: ApiKey.Issued, position: int, rows: Rows) -> None:
        rows.put(self.table, {
            "id": sid(e.originator_id), "name": e.name, "role": e.role,
            "token_sha256": e.token_sha256, "revoked": False, "created_by": e.actor,
            "created_position": position, "created_at": ts(e.timestamp),
            "revoked_at": None, "revoked_by": None, "revoke_reason": None,
        })

    def _revoked(self, e: ApiKey.Revoked, position: int, rows: Rows) -> None:
        rows.patch(self.table, (sid(e.originator_id),), revoked=True,
                   revoked_at=ts(e.timestamp), revoked_by=e.actor, revoke_reason=e.reason)
