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
    {"name": "engineers",
     "description": "The roster assignments draw on: skills, tier, capacity, availability."},
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
