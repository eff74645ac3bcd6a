"""The ticket's guard for the engineer a manual command names: the one rule
(``ledger.qualification``) judged on what the ticket asks at the tier the new
assignment will be worked at. A mixin that ``Ticket`` inherits."""

from __future__ import annotations

from typing import Any

from ledger.qualification import QualificationCheck, TicketNeeds


class TicketQualification:
    def check_qualified(self, check: QualificationCheck | None, tier: int) -> dict[str, Any]:
        """The event fields recording the check (empty without one: a command
        recording history, such as an import, is not judged on today's roster);
        ``EngineerNotQualifiedError`` under ``enforce`` without an override."""
        if check is None:
            return {}
        return check.judge(TicketNeeds.of(self, tier))
