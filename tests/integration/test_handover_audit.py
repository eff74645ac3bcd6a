"""A handover's snapshot and hash are part of the ticket's hash chain: an
attacker who owns the database and rewrites both consistently (the snapshot
altered, its SHA-256 recomputed) is still named by verification."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import orjson
from test_audit import attacker, audit, rows_of, signer  # noqa: F401 - fixtures

from ledger.application import Ledger
from ledger.handover import snapshot_hash
from ledger.hashchain import split_hash


def test_a_rewritten_snapshot_is_named_by_verification(ledger: Ledger, audit: Any) -> None:  # noqa: F811
    ticket_id = ledger.open_ticket(title="Splice at pole 7", actor="desk").result().aggregate_id
    snapshot = {"ticket": {"id": str(ticket_id), "title": "Splice at pole 7", "version": 1},
                "assignments": []}
    ledger.hand_over(ticket_id, handover_id=uuid4(), to_team="build", snapshot=snapshot,
                     snapshot_version=1, actor="desk", notes="ready").result()
    assert audit["verifier"].verify().ok

    position, _, version, _, state = rows_of(audit["log"], ticket_id)[1]
    content, _hash = split_hash(bytes(state))
    stored = orjson.loads(content)
    assert stored["snapshot"] == snapshot and stored["snapshot_hash"] == snapshot_hash(snapshot)
    forged_snapshot = {**snapshot, "ticket": {**snapshot["ticket"], "title": "Nothing here"}}
    forged = bytes(state).replace(orjson.dumps(stored["snapshot_hash"]),
                                  orjson.dumps(snapshot_hash(forged_snapshot)))
    forged = forged.replace(b'"Splice at pole 7"', b'"Nothing here"')
    assert forged != bytes(state)
    with attacker(ledger) as run:
        run("UPDATE {t} SET state = %s WHERE {pos} = %s", [forged, position])
    report = audit["verifier"].verify()
    assert not report.ok
    broken = report.first_broken
    assert (broken.ticket_id, broken.version, broken.position) == (str(ticket_id), version, position)
