"""Domain errors. Each is raised before anything is recorded.

The API maps every class here to an HTTP status in one place (``api.problems``).
"""

from __future__ import annotations


class LedgerError(Exception):
    """Raised when a command is refused; the base of every domain error."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFoundError(LedgerError):
    """Raised when a referenced ticket, assignment or engineer does not exist."""


class TicketNotFoundError(NotFoundError):
    """Raised when no ticket has the given id."""


class AssignmentNotFoundError(NotFoundError):
    """Raised when no assignment has the given id."""


class EngineerNotFoundError(NotFoundError):
    """Raised when no engineer has the given id."""


class ApiKeyNotFoundError(NotFoundError):
    """Raised when no API key has the given id."""


class ConflictError(LedgerError):
    """Raised when a command is not allowed in the aggregate's current state."""


class TicketExistsError(ConflictError):
    """Raised when a ticket is opened with an id that is already taken."""


class EngineerExistsError(ConflictError):
    """Raised when an engineer is registered with an id that is already taken."""


class TicketClosedError(ConflictError):
    """Raised when a command other than reopen is sent to a closed ticket."""


class TicketResolvedError(ConflictError):
    """Raised when work is assigned on a resolved ticket that was not reopened."""


class TicketNotClosableError(ConflictError):
    """Raised when a ticket with an active assignment is closed."""


class TicketNotReopenableError(ConflictError):
    """Raised when a ticket that is neither resolved nor closed is reopened."""


class ActiveAssignmentExistsError(ConflictError):
    """Raised when a ticket that already has an active assignment is assigned."""


class NoActiveAssignmentError(ConflictError):
    """Raised when escalating a ticket that has no active assignment."""


class InvalidTransitionError(ConflictError):
    """Raised when an assignment is moved from a state that does not allow it."""


class SameEngineerError(ConflictError):
    """Raised when an assignment is reassigned to the engineer who already holds it."""


class ConcurrentUpdateError(ConflictError):
    """Raised when a ticket kept changing under a command after several retries."""


class PickOutdatedError(ConcurrentUpdateError):
    """Raised when an auto-assignment's pick was made on a ticket or an engineer
    that changed before the command ran (the caller may choose again)."""


class InvalidReferenceError(LedgerError):
    """Raised when a command names an engineer who is unknown or inactive."""


class StaleVersionError(LedgerError):
    """Raised when an If-Match version is not the ticket's current version."""

    def __init__(self, detail: str, current_version: int) -> None:
        super().__init__(detail)
        self.current_version = current_version


class StorageUnavailableError(LedgerError):
    """Raised when the event store cannot be reached."""


class NoEligibleEngineerError(ConflictError):
    """Raised when auto-assignment finds no engineer who qualifies for the ticket."""

    def __init__(self, detail: str, candidates: list[dict[str, object]]) -> None:
        super().__init__(detail)
        #: Each considered engineer and the reasons they were refused.
        self.candidates = candidates


class EngineerNotQualifiedError(ConflictError):
    """Raised, under the ``enforce`` qualification policy, when a command names an
    engineer who does not qualify for the ticket and gives no override reason."""

    def __init__(self, detail: str, unmet: list[str]) -> None:
        super().__init__(detail)
        #: Every unmet requirement, as a sentence (``ledger.qualification``).
        self.unmet = unmet


class WebhookNotFoundError(NotFoundError):
    """Raised when no webhook endpoint has the id."""


class WebhookTargetError(LedgerError):
    """Raised when a webhook URL may not be called: not http(s), or a loopback,
    private or link-local address (unless private targets are allowed)."""
