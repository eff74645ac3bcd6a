"""Each ticket's own deadline, ``resolve_by`` (docs/field-service.md): its
``due_at``, else the time it was opened plus the target of its priority
(``LEDGER_TICKET_SLA``).

Like the assignment clocks' deadlines (``projections.sla``), ``resolve_by`` is
judged when read, never folded: the folds store what the events say (opening
time, priority, due date, when the ticket was resolved or closed), so changing
the targets needs no rebuild and every process reads the same deadline from
the same rows.

A ticket breaches when it was resolved or closed after ``resolve_by``, or is
still open after it (reopening a ticket starts no new deadline: it is open
again, and late if ``resolve_by`` has passed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ledger.domain import PRIORITIES
from projections.queries import Page, decode_cursor, encode_cursor
from projections.sla import SlaProjection
from projections.store import ReadStore
from projections.tables import parse_ts, ts

SLA_TICKETS = SlaProjection.tickets

#: ``LEDGER_TICKET_SLA``'s default: hours to resolve a ticket, by priority.
DEFAULT_TICKET_SLA = "critical=4h,high=8h,medium=24h,low=72h"
#: The same, in seconds.
DEFAULT_TICKET_TARGETS = {"critical": 4 * 3600.0, "high": 8 * 3600.0,
                          "medium": 24 * 3600.0, "low": 72 * 3600.0}
#: priority -> seconds from opening to ``resolve_by``.
TicketTargets = Mapping[str, float]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ITEM = re.compile(r"^\s*([a-z]+)\s*=\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def parse_ticket_sla(text: str) -> dict[str, float]:
    """``critical=4h,high=8h,...`` -> seconds per priority; a priority left out
    keeps its default. Durations are a number and a unit: s, m, h or d."""
    targets = dict(DEFAULT_TICKET_TARGETS)
    seen: set[str] = set()
    for item in filter(str.strip, text.split(",")):
        match = _ITEM.match(item)
        if match is None:
            msg = (f"{item.strip()!r} is not priority=duration (a number and s, m, h or d), "
                   f"e.g. {DEFAULT_TICKET_SLA!r}")
            raise ValueError(msg)
        priority, number, unit = match.groups()
        if priority not in PRIORITIES:
            raise ValueError(f"unknown priority {priority!r}; use {', '.join(PRIORITIES)}")
        if priority in seen:
            raise ValueError(f"priority {priority!r} is given twice")
        seconds = float(number) * _UNITS[unit]
        if seconds <= 0:
            raise ValueError(f"{priority}: a target must be longer than 0")
        seen.add(priority)
        targets[priority] = seconds
    return targets


def resolve_by(
    *, due_at: str | None, opened_at: str, priority: str, targets: TicketTargets
) -> str:
    """The ticket's deadline, as canonical RFC 3339 UTC text."""
    if due_at is not None:
        return due_at
    return ts(parse_ts(opened_at) + timedelta(seconds=targets[priority]))  # type: ignore[return-value]


def ticket_resolve_by(row: dict[str, Any], targets: TicketTargets) -> str:
    """``resolve_by`` of a row of ``tickets``."""
    return resolve_by(due_at=row["due_at"], opened_at=row["created_at"],
                      priority=row["priority"], targets=targets)


def sla_state(resolve_by_at: str, finished_at: str | None, now: datetime) -> str:
    """``on_track`` or ``breached`` while open; ``met`` or ``missed`` once
    resolved or closed."""
    if finished_at is not None:
        return "met" if finished_at <= resolve_by_at else "missed"
    return "breached" if ts(now) > resolve_by_at else "on_track"  # type: ignore[operator]


def _cols() -> str:
    return ", ".join(SLA_TICKETS.column_names)


#: How close to ``resolve_by`` an open ticket is "due soon".
DUE_SOON = timedelta(hours=2)
#: The console board's SLA filter: state -> (deadline before, deadline at or after),
#: as offsets from now (None: unbounded).
SLA_FILTERS = {"breached": (timedelta(0), None), "due_soon": (DUE_SOON, timedelta(0)),
               "on_track": (None, DUE_SOON)}


def deadline_clause(targets: TicketTargets, now: datetime, state: str
                    ) -> tuple[str, list[Any]]:
    """A condition on rows of ``tickets`` whose ``resolve_by`` puts them in the
    board's ``state`` (``SLA_FILTERS``) at ``now``: the columns are compared with
    values (``due_at``, or ``created_at`` against now minus each priority's
    target), so it reads the same on both backends and needs no stored deadline."""
    before, at_or_after = SLA_FILTERS[state]
    parts, params = [], []
    for bound, op in ((before, "<"), (at_or_after, ">=")):
        if bound is None:
            continue
        edge = now + bound
        ors = ["(due_at IS NOT NULL AND due_at " + op + " %s)"]
        params.append(ts(edge))
        for priority, seconds in sorted(targets.items()):
            ors.append("(due_at IS NULL AND priority = %s AND created_at " + op + " %s)")
            params.extend([priority, ts(edge - timedelta(seconds=seconds))])
        parts.append(f"({' OR '.join(ors)})")
    return " AND ".join(parts), params


def _breach_clause(targets: TicketTargets, now: datetime, since: datetime | None
                   ) -> tuple[str, list[Any]]:
    """One condition for a due date, one per priority for the rest: finished
    late, or still open past the deadline."""
    parts = ["(due_at IS NOT NULL AND ((finished_at IS NULL AND due_at < %s) "
             "OR finished_at > due_at)" + (" AND due_at >= %s)" if since else ")")]
    params: list[Any] = [ts(now), *([ts(since)] if since else [])]
    for priority, seconds in sorted(targets.items()):
        cond = ("(due_at IS NULL AND priority = %s AND ((finished_at IS NULL AND opened_at < %s) "
                "OR finished_seconds > %s)")
        params.extend([priority, ts(now - timedelta(seconds=seconds)), seconds])
        if since is not None:  # the deadline (opened + target) is at or after since
            cond += " AND opened_at >= %s"
            params.append(ts(since - timedelta(seconds=seconds)))
        parts.append(cond + ")")
    return f"({' OR '.join(parts)})", params


def ticket_breaches(
    store: ReadStore, *, targets: TicketTargets, now: datetime, limit: int,
    cursor: str | None = None, since: datetime | None = None,
) -> Page:
    """Tickets past their ``resolve_by``, ordered by opening time. The cursor
    is ``[time, id, tag]`` as ``OpsQueries.sla_breaches``'s (``tag`` is
    ``"ticket"`` here), so the two lists page together in one order."""
    clause, params = _breach_clause(targets, now, since)
    where = [clause]
    if cursor:
        at, item_id, tag = decode_cursor(cursor, 3)
        where.append("(opened_at > %s OR (opened_at = %s AND (ticket_id > %s "
                     "OR (ticket_id = %s AND 'ticket' > %s))))")
        params.extend([at, at, item_id, item_id, tag])
    rows = store.rows(
        SLA_TICKETS,
        f"SELECT {_cols()} FROM {SLA_TICKETS.name} WHERE {' AND '.join(where)} "
        "ORDER BY opened_at, ticket_id LIMIT %s",
        [*params, limit + 1],
    )
    items = [ticket_breach(r, targets, now) for r in rows[:limit]]
    more = len(rows) > limit
    return Page(items, encode_cursor(breach_key(items[-1])) if more else None)


def ticket_breach(row: dict[str, Any], targets: TicketTargets, now: datetime) -> dict[str, Any]:
    deadline = resolve_by(due_at=row["due_at"], opened_at=row["opened_at"],
                          priority=row["priority"], targets=targets)
    opened = parse_ts(row["opened_at"])
    running = row["finished_at"] is None
    elapsed = (now - opened).total_seconds() if running else row["finished_seconds"]
    target = (parse_ts(deadline) - opened).total_seconds()
    return {
        "level": "ticket",
        "ticket_id": row["ticket_id"],
        "priority": row["priority"],
        "started_at": row["opened_at"],
        "due_at": row["due_at"],
        "deadline": deadline,
        "stopped_at": row["finished_at"],
        "running": running,
        "target_seconds": target,
        "elapsed_seconds": round(elapsed, 3),
        "overdue_seconds": round(elapsed - target, 3),
        "end_reason": row["finished_as"],
    }


def breach_key(item: dict[str, Any]) -> list[str]:
    """The order breaches of both levels are listed in: ``[time, id, tag]``."""
    if item["level"] == "ticket":
        return [item["started_at"], item["ticket_id"], "ticket"]
    return [item["started_at"], item["assignment_id"], item["clock"]]
