"""The OpenAPI document's tags: one per resource, each saying what it groups
(the sections of /docs). Every route's tag is one of these."""

from __future__ import annotations

TAGS = [
    {"name": "tickets",
     "description": "Service tickets: open, close and reopen them; read each one with its "
                    "assignments, history and events, as it stands or as it stood."},
    {"name": "assignments",
     "description": "One engineer's turn on one ticket: assign (by hand or automatically), "
                    "accept, start, complete, reject, escalate, reassign, remove; and who "
                    "held what, when."},
    {"name": "proposals",
     "description": "The ledger's suggestions of an engineer for open tickets, with the "
                    "scoring's reasons, and the dispatcher's decision: approve (the "
                    "assignment is made), reject with a reason, or decide a selection."},
    {"name": "notes",
     "description": "Notes on a ticket: internal ones, ones for the client, and the "
                    "ledger's own (system)."},
    {"name": "repeat-faults",
     "description": "Places (a pole, a PON, a zone, a drop) where tickets keep being opened: "
                    "raised by the ledger, acknowledged and resolved by dispatchers."},
    {"name": "engineers",
     "description": "The roster assignments draw on: skills, tier, capacity, availability."},
    {"name": "coverage",
     "description": "Dispatch coverage by the qualification rule: who qualifies for a "
                    "territory, skill, certification and tier; which open work nobody covers; "
                    "which certifications run out soon."},
    {"name": "audit",
     "description": "The event log and its proofs: the global feed, its export and live "
                    "stream, hash-chain verification and signed checkpoints."},
    {"name": "reports",
     "description": "Figures from the read tables: per ticket, per engineer, and a summary."},
    {"name": "imports",
     "description": "Bringing a legacy system's records in: seed 004's CSV files of tickets "
                    "and developers, recorded through the ledger's commands."},
    {"name": "operations",
     "description": "Running the ledger: projections and their rebuilds, health, "
                    "readiness, metrics and SLA breaches."},
    {"name": "webhooks",
     "description": "Endpoints that receive the event log as signed Standard Webhooks "
                    "messages: register, change, deactivate, test, rotate secrets, and the "
                    "delivery log."},
]
