#!/usr/bin/env python3
"""Recompute the snapshot hash of every handover of a ticket.

    python handover_verify.py handovers.json

``handovers.json``: the body of ``GET /tickets/{id}/handovers``. Each
handover's ``snapshot_hash`` must be the hex SHA-256 of its ``snapshot`` in
canonical JSON, RFC 8785 (JCS: keys sorted, no whitespace, UTF-8, numbers as
ECMAScript prints them). Needs only the ``rfc8785`` package and shares no code
with the ledger. Exits 0 if every hash matches, 1 if any does not.
"""

from __future__ import annotations

import hashlib
import json
import sys

import rfc8785


def snapshot_hash(snapshot: dict) -> str:
    return hashlib.sha256(rfc8785.dumps(snapshot)).hexdigest()


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        handovers = json.load(f)
    bad = 0
    for h in handovers:
        ok = snapshot_hash(h["snapshot"]) == h["snapshot_hash"]
        bad += not ok
        print(f"{h['id']} {h['from_team']} -> {h['to_team']}: {'OK' if ok else 'MISMATCH'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
