"""The ``Ledger`` commands that name an engineer for a ticket (assign, escalate,
reassign), with the qualification check (``ledger.qualification``): a mixin
that ``Ledger`` inherits.

Where the engineer's facts come from: the write model. ``check`` (run once per
command, before the version check) loads the Engineer aggregate through
``ledger.engineer_gate``, which also refuses an unknown or inactive engineer
(422) and, in the process whose runner leads, answers from memory until the
engineer's committed facts change. The read tables are not used: they may lag
the engineer's last change, and the command path already holds the aggregate.
The ticket's side (what it asks, at which tier) is judged by the ticket itself
(``Ticket.check_qualified``) after its own rules, so a closed ticket still
answers 409 ``invalid-state`` before an unqualified engineer's 409.
"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.ids import new_id
from ledger.qualification import (
    WARN,
    EngineerFacts,
    QualificationCheck,
    TicketNeeds,
    unmet,
)
from ledger.results import CommandResult

if TYPE_CHECKING:
    from collections.abc import Callable

    from ledger.assignment import Assignment
    from ledger.ticket import Ticket


class NamedEngineer:
    """The engineer one command names: their facts, read once by ``check``;
    ``qualification()`` the check the ticket then makes (None for a command
    that records history with its own ``timestamp``, such as an import: past
    assignments are not judged on today's roster)."""

    def __init__(
        self, ledger: DispatchCommands, engineer_id: str, timestamp: datetime | None,
        fields: dict[str, Any],
    ) -> None:
        self._ledger = ledger
        self._engineer_id = engineer_id
        self._judged = timestamp is None
        self._override = fields.get("override_reason")
        self.facts: EngineerFacts | None = None

    def check(self) -> None:
        self.facts = self._ledger.require_active_engineer(self._engineer_id)

    def qualification(self) -> QualificationCheck | None:
        if not self._judged or self.facts is None:
            return None
        return self._ledger.qualification_check(self.facts, self._override)


class DispatchCommands:
    """assign, escalate, reassign; and the rule for other callers (proposals,
    auto-assign) through ``qualification_check`` and ``unmet_for``."""

    #: ``LEDGER_QUALIFICATION_POLICY``: warn (record the warnings) or enforce
    #: (refuse without an override reason); the API sets it from its settings.
    qualification_policy: str = WARN

    if TYPE_CHECKING:  # Ledger's own
        def require_active_engineer(self, engineer_id: str) -> EngineerFacts: ...
        def _update_ticket(
            self, ticket_id: UUID, command: Callable[[Ticket], Assignment | None],
            expected_version: int | None, check: Callable[[], object] | None = None,
        ) -> Future[CommandResult]: ...

    @staticmethod
    def today() -> date:
        """The day certifications are judged on: today in UTC."""
        return datetime.now(UTC).date()

    def qualification_check(
        self, facts: EngineerFacts, override_reason: str | None = None,
        on: date | None = None,
    ) -> QualificationCheck:
        """The check a ticket makes of a named engineer (``Ticket.assign(...,
        qualification=...)``), under this ledger's policy."""
        return QualificationCheck(
            facts, on=on or self.today(), policy=self.qualification_policy,
            override_reason=override_reason,
        )

    def unmet_for(
        self, engineer_id: str, ticket: Any, tier: int, on: date | None = None
    ) -> list[str]:
        """What ``engineer_id`` (from the write model) lacks for ``ticket`` (the
        aggregate or its row) at ``tier``: the rule's sentences, empty when
        they qualify. ``InvalidReferenceError`` for an unknown or inactive one."""
        facts = self.require_active_engineer(engineer_id)
        return unmet(facts, TicketNeeds.of(ticket, tier), on or self.today())

    # ------------------------------------------------------------ commands
    # ``fields``: the event's own (reason, tier_name, override_reason, ...).

    def assign(
        self, ticket_id: UUID, *, engineer_id: str, actor: str,
        expected_version: int | None = None, assignment_id: UUID | None = None,
        timestamp: datetime | None = None, via: str | None = None, **fields: Any,
    ) -> Future[CommandResult]:
        """``assignment_id``, ``timestamp`` and ``via`` are for imports (a name-based
        id, the legacy time, ``"import"``); a new id and now otherwise."""
        new_assignment = assignment_id or new_id()
        named = NamedEngineer(self, engineer_id, timestamp, fields)
        return self._update_ticket(
            ticket_id,
            lambda t: t.assign(
                assignment_id=new_assignment, engineer_id=engineer_id, actor=actor,
                timestamp=timestamp, via=via, qualification=named.qualification(), **fields,
            ),
            expected_version,
            check=named.check,
        )

    def escalate(
        self, ticket_id: UUID, *, next_engineer_id: str, actor: str,
        expected_version: int | None = None, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Future[CommandResult]:
        new_assignment = new_id()
        named = NamedEngineer(self, next_engineer_id, timestamp, fields)
        return self._update_ticket(
            ticket_id,
            lambda t: t.escalate(
                new_assignment_id=new_assignment, next_engineer_id=next_engineer_id,
                actor=actor, timestamp=timestamp, via=via, qualification=named.qualification(),
                **fields,
            ),
            expected_version,
            check=named.check,
        )

    def reassign(
        self, ticket_id: UUID, assignment_id: UUID, *, new_engineer_id: str, actor: str,
        expected_version: int | None = None, timestamp: datetime | None = None,
        via: str | None = None, **fields: Any,
    ) -> Future[CommandResult]:
        new_assignment = new_id()
        named = NamedEngineer(self, new_engineer_id, timestamp, fields)
        return self._update_ticket(
            ticket_id,
            lambda t: t.reassign(
                assignment_id, new_assignment_id=new_assignment,
                new_engineer_id=new_engineer_id, actor=actor, timestamp=timestamp, via=via,
                qualification=named.qualification(), **fields,
            ),
            expected_version,
            check=named.check,
        )
