"""The log taken away: /events under concurrent writers, /events/export (NDJSON,
CSV) and /events/stream (Server-Sent Events), and `ledger export events`."""

from __future__ import annotations

import csv
import io
import threading
import time
from typing import Any
from uuid import uuid4

import orjson
import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from api.routers import feed as feed_router

LINE_KEYS = ["position", "originator_id", "originator_version", "topic", "type", "timestamp",
             "actor", "state"]


def _stored(api: Any) -> list[Any]:
    """Every stored event, straight from the recorder (the truth to compare with)."""
    ledger = api.client.app.state.services.ledger
    return ledger.recorder.select_notifications(start=1, limit=1_000_000)


def _history(api: Any) -> dict[str, str]:
    e1, e2 = api.engineer(tier=1)["id"], api.engineer(tier=2)["id"]
    t1, t2 = api.ticket()["id"], api.ticket()["id"]
    a1 = api.assign(t1, e1)
    api.accept(a1["id"])
    api.escalate(t1, e2, reason='say "hi"\nnew line, comma')
    api.assign(t2, e2)
    return {"t1": t1, "t2": t2, "e1": e1}


def _lines(body: bytes) -> list[bytes]:
    assert body.endswith(b"\n")
    return body[:-1].split(b"\n")


# ---------------------------------------------------------------- /events


def test_unknown_type_is_422_and_naive_times_too(api: Any) -> None:
    api.ticket()
    for path in ("/events", "/events/export", "/events/stream"):
        body = api.problem(api.get(path, params={"type": "Ticket.Exploded"}), 422)
        assert body["errors"][0]["loc"] == ["query", "type"]
        assert "Ticket.Exploded" in body["errors"][0]["msg"]
        api.problem(api.get(path, params={"since": "2026-01-01T00:00:00"}), 422)
    api.problem(api.get("/events/export", params={"format": "xml"}), 422)
    api.problem(api.get("/events/export", params={"from": 0}), 422)
    api.problem(api.get("/events/stream", headers={"Last-Event-ID": "abc"}), 400)


def test_a_full_page_at_the_head_hands_out_a_cursor_that_polls(api: Any) -> None:
    api.ticket()
    head = api.head()
    page = api.ok(api.get("/events", params={"limit": head}))
    assert len(page["items"]) == head and page["next_cursor"]
    # Following it at the head: one empty page, null cursor (documented) ...
    assert api.ok(api.get("/events", params={"cursor": page["next_cursor"]})) == {
        "items": [], "next_cursor": None}
    # ... and a poller that kept the cursor sees what is recorded later.
    api.ticket()
    later = api.ok(api.get("/events", params={"cursor": page["next_cursor"]}))
    assert [e["position"] for e in later["items"]] == [head + 1]


@pytest.mark.timeout(120)
def test_concurrent_writers_nothing_skipped_nothing_repeated(api: Any) -> None:
    """Four threads record commands while a reader pages through /events with the
    cursor (and polls with ``after`` at the head): the concatenated pages are
    exactly the store's events, in position order, each once."""
    services = api.client.app.state.services
    ledger = services.ledger
    engineers = [api.engineer(capacity=1000)["id"] for _ in range(2)]
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(12):
                ticket = ledger.open_ticket(title=f"w{n}-{i}", actor=f"writer-{n}").result()
                result = ledger.assign(ticket.aggregate_id, engineer_id=engineers[n % 2],
                                       tier=1, actor=f"writer-{n}").result()
                ledger.accept(ticket.aggregate_id, result.assignment_id, actor=f"writer-{n}").result()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    seen: list[int] = []
    query: dict[str, Any] = {"limit": 7}
    while True:
        writers_done = not any(t.is_alive() for t in threads)
        page = api.ok(api.get("/events", params=query))
        seen.extend(e["position"] for e in page["items"])
        if page["next_cursor"] is not None:
            query = {"limit": 7, "cursor": page["next_cursor"]}
        elif writers_done:
            break  # at the head after the last write: done
        else:
            query = {"limit": 7, "after": seen[-1] if seen else 0}
            time.sleep(0.01)
    for t in threads:
        t.join()
    assert not errors, errors
    stored = [n.id for n in _stored(api)]
    assert len(stored) >= 4 * 12 * 3
    assert seen == stored, "every committed event exactly once, in position order"
    assert len(set(seen)) == len(seen)


# ---------------------------------------------------------------- export


def test_export_ndjson_is_the_stored_log(api: Any) -> None:
    _history(api)
    stored = _stored(api)
    response = api.get("/events/export", params={"format": "ndjson"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.headers["x-ledger-head"] == str(stored[-1].id)
    lines = _lines(response.content)
    assert len(lines) == len(stored)
    feed = api.events()
    for line, event, item in zip(lines, stored, feed, strict=True):
        # The stored state is spliced in byte for byte.
        assert line.endswith(b',"state":' + event.state + b"}"), line
        row = orjson.loads(line)
        assert list(row) == LINE_KEYS
        assert row["position"] == event.id == item["position"]
        assert row["originator_id"] == str(event.originator_id) == item["aggregate_id"]
        assert row["originator_version"] == event.originator_version == item["version"]
        assert row["topic"] == event.topic
        assert row["type"] == item["type"]
        assert row["timestamp"] == item["recorded_at"]
        assert row["actor"] == item["actor"] == "e2e-tester"
        assert row["state"] == orjson.loads(event.state)


def test_export_csv_has_the_same_columns(api: Any) -> None:
    _history(api)
    stored = _stored(api)
    response = api.get("/events/export", params={"format": "csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    ndjson = [orjson.loads(x) for x in _lines(api.get("/events/export").content)]
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert list(rows[0]) == LINE_KEYS
    assert len(rows) == len(stored) == len(ndjson)
    for row, event, line in zip(rows, stored, ndjson, strict=True):
        assert row["state"].encode() == event.state  # the stored JSON, as a string
        assert int(row["position"]) == line["position"]
        assert {k: row[k] for k in ("originator_id", "topic", "type", "timestamp", "actor")} == {
            k: line[k] for k in ("originator_id", "topic", "type", "timestamp", "actor")}


def test_export_filters(api: Any) -> None:
    ids = _history(api)
    everything = [orjson.loads(x) for x in _lines(api.get("/events/export").content)]
    head = everything[-1]["position"]

    def export(**params: Any) -> list[int]:
        response = api.get("/events/export", params=params)
        assert response.status_code == 200, response.text
        return [orjson.loads(x)["position"] for x in response.content.splitlines()]

    assert export(**{"from": 3, "to": 5}) == [3, 4, 5]
    assert export(**{"from": head}) == [head]
    assert export(**{"from": head + 1}) == []
    assigned = [e["position"] for e in everything if e["type"] == "Ticket.Assigned"]
    assert export(type="Assigned") == export(type="Ticket.Assigned") == assigned
    assert export(ticket_id=ids["t1"]) == [
        e["position"] for e in everything if e["originator_id"] == ids["t1"]]
    assert export(actor="e2e-tester") == [e["position"] for e in everything]
    assert export(actor="nobody") == []
    middle = everything[len(everything) // 2]["timestamp"]
    assert export(until=middle) + export(since=middle) == [e["position"] for e in everything]
    # The export stops at the head of the moment it was asked for.
    assert export(to=10**9) == [e["position"] for e in everything]


def test_export_needs_the_audit_permission(api: Any) -> None:
    services = api.client.app.state.services
    tokens = {}
    for role in ("auditor", "dispatcher", "engineer"):
        result, token = services.ledger.create_api_key(name=f"{role}-{uuid4().hex[:6]}",
                                                       role=role, actor="t").result()
        services.read_side.wait_for(result.position, 5)
        tokens[role] = {"Authorization": f"Bearer {token}"}
    assert api.get("/events/export", headers=tokens["auditor"]).status_code == 200
    api.problem(api.get("/events/export", headers=tokens["dispatcher"]), 403)
    api.problem(api.get("/events/export", headers=tokens["engineer"]), 403)


def test_cli_export_equals_the_endpoint(api: Any, database_url: str, tmp_path: Any,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _history(api)
    monkeypatch.setenv("LEDGER_DATABASE_URL", database_url)
    runner = CliRunner()
    for fmt in ("ndjson", "csv"):
        out = tmp_path / f"events.{fmt}"
        result = runner.invoke(cli, ["export", "events", "--format", fmt, "--output", str(out)],
                               catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert out.read_bytes() == api.get("/events/export", params={"format": fmt}).content
    result = runner.invoke(cli, ["export", "events", "--from", "4"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == api.get("/events/export", params={"from": 4}).content
    bad = runner.invoke(cli, ["export", "events", "--format", "xml"])
    assert bad.exit_code == 2


# ---------------------------------------------------------------- stream


class Sse:
    """Reads Server-Sent Events frames from a streaming response."""

    def __init__(self, response: Any) -> None:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        self.lines = response.iter_lines()

    def frame(self) -> dict[str, Any]:
        """The next frame: {"id", "event", "data"} or {"comment"} / {"retry"}."""
        fields: dict[str, Any] = {}
        for line in self.lines:
            if line == "":
                if fields:
                    return fields
                continue
            if line.startswith(":"):
                return {"comment": line[1:].strip()}
            name, _, value = line.partition(": ")
            fields[name] = fields[name] + "\n" + value if name in fields else value
        raise AssertionError("the stream ended")

    def events(self, n: int) -> list[dict[str, Any]]:
        out = []
        while len(out) < n:
            frame = self.frame()
            if "id" in frame:
                out.append(frame)
        return out


@pytest.mark.timeout(60)
def test_stream_resumes_with_last_event_id_without_gap_or_duplicate(api: Any) -> None:
    _history(api)
    export = {orjson.loads(x)["position"]: x.decode() for x in _lines(
        api.get("/events/export").content)}
    head = max(export)
    with api.client.stream("GET", "/events/stream") as response:
        first = Sse(response).events(4)
    assert [int(f["id"]) for f in first] == [1, 2, 3, 4]
    for f in first:
        assert f["data"] == export[int(f["id"])]  # the export line, state and all
        assert f["event"] == orjson.loads(f["data"])["type"]
    with api.client.stream("GET", "/events/stream", params={"after": 1},
                           headers={"Last-Event-ID": first[-1]["id"]}) as response:
        rest = Sse(response).events(head - 4)
    assert [int(f["id"]) for f in rest] == list(range(5, head + 1))
    with api.client.stream("GET", "/events/stream", params={"after": head - 1}) as response:
        (last,) = Sse(response).events(1)
    assert int(last["id"]) == head


@pytest.mark.timeout(60)
def test_a_new_command_appears_on_an_open_stream(api: Any) -> None:
    ids = _history(api)
    head = api.head()
    ledger = api.client.app.state.services.ledger
    listeners = len(ledger._listeners)
    with api.client.stream("GET", "/events/stream", params={
            "after": head, "type": "Ticket.Closed"}) as response:
        sse = Sse(response)
        assert sse.frame() == {"retry": "2000"}
        opened = api.ticket()["id"]  # not a Ticket.Closed: filtered out
        api.close(opened)
        (frame,) = sse.events(1)
        assert frame["event"] == "Ticket.Closed"
        assert int(frame["id"]) == head + 2
        assert orjson.loads(frame["data"])["originator_id"] == opened
        api.close(api.ticket()["id"])
        assert int(sse.events(1)[0]["id"]) == head + 4
        assert len(ledger._listeners) == listeners + 1  # the open stream listens
    # The client went away: the stream stopped listening.
    deadline = time.monotonic() + 5
    while len(ledger._listeners) != listeners:
        assert time.monotonic() < deadline, "the closed stream still listens"
        time.sleep(0.02)
    assert ids


@pytest.mark.timeout(60)
def test_idle_streams_send_keep_alive_and_end_on_shutdown(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed_router, "KEEPALIVE_SECONDS", 0.1)
    monkeypatch.setattr(feed_router, "POLL_SECONDS", 0.02)
    api.ticket()
    with api.client.stream("GET", "/events/stream", params={"after": api.head()}) as response:
        sse = Sse(response)
        assert sse.frame() == {"retry": "2000"}
        assert sse.frame() == {"comment": "keep-alive"}
        assert sse.frame() == {"comment": "keep-alive"}
        feed_router.stop_streams(api.client.app)  # what `ledger serve` does on SIGTERM
        for _ in sse.lines:  # the stream ends by itself
            pass
