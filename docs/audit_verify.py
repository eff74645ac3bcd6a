#!/usr/bin/env python3
"""Verify an exported ledger with nothing but its public key.

    python audit_verify.py events.ndjson checkpoints.json PUBLIC_KEY_HEX

``events.ndjson``: ``ledger export events --format ndjson`` (or GET
/events/export?format=ndjson), one event per line with ``position``,
``originator_id``, ``originator_version``, ``topic`` and the stored ``state``.
``checkpoints.json``: the body of GET /audit/checkpoints (or its ``items``).
The public key: ``public_key_hex`` of GET /audit/public-key, obtained out of
band (published, printed in the audit report) -- not from the server under audit.

Needs only ``orjson`` and ``cryptography``; shares no code with the ledger, so
the auditor can read every line of what they run. Exits 0 if intact, 1 if not.
"""

from __future__ import annotations

import hashlib
import json
import sys

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = "0" * 64


def event_hash(event: dict) -> tuple[str, str | None]:
    """(recomputed hash, recorded hash) of one exported event."""
    state = dict(event["state"])
    recorded = state.pop("hash", None)
    head = f"{event['originator_id']}:{event['originator_version']}:{event['topic']}\n"
    content = orjson.dumps(state, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(head.encode() + content).hexdigest(), recorded


def verify(events_path: str, checkpoints_path: str, public_key_hex: str) -> list[str]:
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
    with open(checkpoints_path) as f:
        loaded = json.load(f)
    checkpoints = sorted(loaded["items"] if isinstance(loaded, dict) else loaded,
                         key=lambda c: c["position"])
    problems: list[str] = []
    for c in checkpoints:
        message = (f"assignment-ledger checkpoint\nposition={c['position']}\n"
                   f"events={c['events']}\nrunning_hash={c['running_hash']}\n"
                   f"sealed_at={c['sealed_at']}\n").encode()
        try:
            key.verify(bytes.fromhex(c["signature"]), message)
        except Exception:  # noqa: BLE001 - any failure means "not signed by this key"
            problems.append(f"checkpoint {c['position']}: signature not valid")
    heads: dict[str, tuple[int, str]] = {}
    running, count, pending = GENESIS, 0, list(checkpoints)
    with open(events_path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            event = orjson.loads(line)
            position = event["position"]
            while pending and pending[0]["position"] < position:
                c = pending.pop(0)
                if (c["running_hash"], c["events"]) != (running, count):
                    problems.append(f"checkpoint {c['position']}: running hash differs")
            where = f"{event['originator_id']} v{event['originator_version']} @{position}"
            computed, recorded = event_hash(event)
            if computed != recorded:
                problems.append(f"{where}: content does not match its hash")
            last_version, last_hash = heads.get(event["originator_id"], (0, GENESIS))
            if event["originator_version"] != last_version + 1:
                problems.append(f"{where}: follows version {last_version}")
            elif event["state"].get("prev_hash") != last_hash:
                problems.append(f"{where}: prev_hash does not match")
            heads[event["originator_id"]] = (event["originator_version"], computed)
            running = hashlib.sha256(bytes.fromhex(running) + bytes.fromhex(computed)).hexdigest()
            count += 1
    for c in pending:
        if (c["running_hash"], c["events"]) != (running, count):
            problems.append(f"checkpoint {c['position']}: running hash differs")
    print(f"{count} events, {len(heads)} streams, {len(checkpoints)} checkpoints: "
          + ("INTACT" if not problems else f"{len(problems)} PROBLEM(S)"))
    for problem in problems:
        print("  " + problem)
    return problems


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(1 if verify(*sys.argv[1:]) else 0)
