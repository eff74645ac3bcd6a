"""A legacy ticket's ids in the ledger: a ``service_tickets`` id that is a UUID is
kept as the ticket's id (other systems' references to it still hold); any other id
is name-based (uuid5 of the source's namespace), so a second import finds what the
first one recorded, and an export finds a ticket's legacy id again.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

_LEGACY_NAMESPACE = uuid5(NAMESPACE_URL, "urn:assignment-ledger:legacy")
#: Ticket id namespaces, one per source, so a service_tickets id "7" and a CSV id
#: "7" never meet.
SOURCE_NAMESPACES: dict[str, UUID] = {
    "service_tickets": uuid5(_LEGACY_NAMESPACE, "service_tickets"),
    "csv": uuid5(_LEGACY_NAMESPACE, "csv-tickets"),
}
#: Sources whose UUID ids become the ledger's ids unchanged (seed 002's ids are UUIDs,
#: and its client calls ``/tickets/<id>/...`` with them). seed 004's CSV ids are
#: integers, always name-based.
KEEPS_UUID_IDS = frozenset({"service_tickets"})


def _as_uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


def name_based_ticket_id(source: str, legacy_id: str) -> UUID:
    """uuid5 of the source's namespace and the legacy id."""
    return uuid5(SOURCE_NAMESPACES[source], legacy_id)


def legacy_ticket_id(source: str, legacy_id: str) -> UUID:
    """The ledger id of a legacy ticket: the legacy id itself when it is a UUID and
    the source keeps them (``KEEPS_UUID_IDS``), else its name-based id."""
    if source in KEEPS_UUID_IDS:
        kept = _as_uuid(legacy_id)
        if kept is not None:
            return kept
    return name_based_ticket_id(source, legacy_id)


def legacy_assignment_id(ticket_id: UUID, sequence: int = 1) -> UUID:
    return uuid5(ticket_id, f"assignment/{sequence}")


def legacy_id_of(ticket_id: UUID | str, reference: str | None) -> str:
    """The id a ticket has in a legacy table: an imported ticket keeps its legacy id
    as spelt there (its ``reference``: its ledger id is that UUID, or the uuid5 of
    it); any other ticket is known by its ledger id."""
    ticket_id = UUID(str(ticket_id))
    if reference and (
        _as_uuid(reference) == ticket_id
        or any(uuid5(ns, reference) == ticket_id for ns in SOURCE_NAMESPACES.values())
    ):
        return reference
    return str(ticket_id)
