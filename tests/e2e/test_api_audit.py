"""The auditor's REST endpoints: public key, signed checkpoints, verification."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from projections.checkpoints import checkpoint_message


def test_checkpoints_are_signed_by_the_published_key(api, client):
    for _ in range(3):
        api.assigned()
    client.app.state.services.audit.sealer.seal_pending(force=True)
    key = api.get("/audit/public-key").json()
    assert key["algorithm"] == "Ed25519" and key["public_key_pem"].startswith("-----BEGIN")
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key["public_key_hex"]))
    body = api.get("/audit/checkpoints").json()
    assert body["key_id"] == key["key_id"]
    (checkpoint,) = body["items"]
    assert checkpoint["position"] == api.head() and checkpoint["events"] == api.head()
    message = checkpoint_message(checkpoint["position"], checkpoint["events"],
                                 checkpoint["running_hash"], checkpoint["sealed_at"])
    public.verify(bytes.fromhex(checkpoint["signature"]), message)  # raises if forged
    assert api.get("/audit/checkpoints", params={"after": checkpoint["position"]}).json()[
        "items"] == []


def test_verify_reports_on_the_whole_log_and_on_one_ticket(api, client):
    ticket_id, _engineer, _assignment = api.assigned()
    client.app.state.services.audit.sealer.seal_pending(force=True)
    whole = api.get("/audit/verify").json()
    assert whole["ok"] is True and whole["first_broken"] is None
    assert whole["events_checked"] == api.head() and whole["checkpoints_checked"] == 1
    one = api.get("/audit/verify", params={"ticket_id": ticket_id}).json()
    assert one["ok"] is True and one["events_checked"] == 2  # opened, assigned
    api.problem(api.get("/audit/verify", params={"from": -1}), 422)
    api.problem(api.get("/audit/verify", params={"ticket_id": "nope"}), 422)
