"""What the proposals endpoints and the ledger's choice of engineer read: the
``proposals`` table, and the inputs of the one scorer (``ledger.autoassign``)
taken from the read side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from ledger.autoassign import Candidate
from ledger.domain import ACTIVE_STATUSES
from ledger.qualification import certification_days
from projections.assignments import EngineerAssignmentsProjection
from projections.engineers import EngineersProjection
from projections.proposals import ProposalsProjection
from projections.queries import Page, ReadQueries, decode_cursor
from projections.store import ReadStore
from projections.tables import Table

PROPOSALS = ProposalsProjection.table
ASSIGNMENTS = EngineerAssignmentsProjection.table
ENGINEERS = EngineersProjection.table
_COLUMNS = ", ".join(PROPOSALS.column_names)


class ProposalQueries:
    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def proposal(self, proposal_id: UUID | str) -> dict[str, Any] | None:
        rows = self.store.rows(
            PROPOSALS, f"SELECT {_COLUMNS} FROM proposals WHERE id = %s", [str(proposal_id)]
        )
        return rows[0] if rows else None

    def _by_id(self, table: Table, columns: str, ids: Sequence[UUID | str]) -> list[dict[str, Any]]:
        """Rows of ``table`` whose id is one of ``ids``, 500 placeholders a query."""
        keys = [str(i) for i in ids]
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            found += self.store.rows(
                table,
                f"SELECT {columns} FROM {table.name} WHERE id IN "
                f"({', '.join(['%s'] * len(chunk))})",
                chunk,
            )
        return found

    def proposals_by_id(self, ids: Sequence[UUID | str]) -> dict[str, dict[str, Any]]:
        return {row["id"]: row for row in self._by_id(PROPOSALS, _COLUMNS, ids)}

    def proposals(
        self, *, limit: int, cursor: str | None, status: str | None = None,
        ticket_id: UUID | str | None = None, engineer_id: str | None = None,
    ) -> Page:
        """Oldest first (the order they were proposed in), keyset-paged."""
        where, params = ["1=1"], []
        if status is not None:
            where.append("status = %s")
            params.append(status)
        if ticket_id is not None:
            where.append("ticket_id = %s")
            params.append(str(ticket_id))
        if engineer_id is not None:
            where.append("engineer_id = %s")
            params.append(engineer_id)
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            where.append("proposed_position > %s")
            params.append(int(after))
        rows = self.store.rows(
            PROPOSALS,
            f"SELECT {_COLUMNS} FROM proposals WHERE {' AND '.join(where)} "
            "ORDER BY proposed_position LIMIT %s",
            [*params, limit + 1],
        )
        return ReadQueries._page(rows, limit, lambda r: [r["proposed_position"]])

    def roster(self, tier: int) -> list[Candidate]:
        """The engineers at ``tier`` or above (the qualification rule's "tier at
        least T"), with their load, territories, certifications and when each
        was last assigned."""
        engineers = self.store.rows(
            ENGINEERS, f"SELECT {', '.join(ENGINEERS.column_names)} FROM {ENGINEERS.name} "
            "WHERE tier >= %s ORDER BY id", [tier],
        )
        last: dict[str, str] = {}
        ids = [e["id"] for e in engineers]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for r in self.store.rows(
                ASSIGNMENTS,
                f"SELECT engineer_id, MAX(assigned_at) AS assigned_at FROM {ASSIGNMENTS.name} "
                f"WHERE engineer_id IN ({', '.join(['%s'] * len(chunk))}) GROUP BY engineer_id",
                chunk,
            ):
                last[r["engineer_id"]] = r["assigned_at"]
        return [
            Candidate(
                engineer_id=e["id"], skills=tuple(e["skills"]), tier=e["tier"],
                capacity=e["capacity"], availability=float(e["availability"]),
                active=bool(e["active"]), open_assignments=e["open_assignments"],
                last_assigned_at=last.get(e["id"]),
                territories=tuple(e.get("territories") or ()),
                certifications=certification_days(e.get("certifications") or ()),
            )
            for e in engineers
        ]

    def open_assignment_ids(self, engineer_id: str) -> list[UUID]:
        """The engineer's open assignments as the read side shows them (what a
        capacity reservation counts beyond its own, see ``ledger.workload``)."""
        statuses = sorted(ACTIVE_STATUSES)
        rows = self.store.rows(
            ASSIGNMENTS,
            f"SELECT id FROM {ASSIGNMENTS.name} WHERE engineer_id = %s AND status IN "
            f"({', '.join(['%s'] * len(statuses))})",
            [engineer_id, *statuses],
        )
        return [UUID(str(r["id"])) for r in rows]

    def completion_statuses(self, assignment_ids: Sequence[UUID | str]) -> dict[str, str | None]:
        """Each completed assignment's ``completion_status``, by id."""
        rows = self._by_id(ASSIGNMENTS, "id, completion_status", assignment_ids)
        return {str(r["id"]): r["completion_status"] for r in rows}
