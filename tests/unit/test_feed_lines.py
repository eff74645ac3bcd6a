"""Export lines: the stored state spliced in byte for byte, CSV quoting, times."""

from __future__ import annotations

import csv
import io

import orjson
import pytest

from projections.feed import CSV_COLUMNS, LogEvent, UnknownEventTypeError, canonical_time, topics_for

STATE = b'{"timestamp":{"_type_":"datetime_iso","_data_":"2021-06-01T08:30:15.250000+00:00"},' \
        b'"reason":"say \\"hi\\", then\\nleave","actor":"o\'neil, \\"the\\" boss"}'


def event(**overrides: object) -> LogEvent:
    values = dict(position=7, originator_id="0b9c5a54-6f0e-4c1e-9d59-0c0f5c6a4b11",
                  originator_version=3, topic="ledger.domain:Ticket.Escalated",
                  type="Ticket.Escalated", timestamp="2021-06-01T08:30:15.250000Z",
                  actor='o\'neil, "the" boss', state=STATE)
    values.update(overrides)
    return LogEvent(**values)  # type: ignore[arg-type]


def test_json_line_splices_the_state_unchanged() -> None:
    line = event().json()
    assert line.endswith(b',"state":' + STATE + b"}")
    parsed = orjson.loads(line)
    assert list(parsed) == list(CSV_COLUMNS)
    assert parsed["actor"] == 'o\'neil, "the" boss'
    assert parsed["state"] == orjson.loads(STATE)


def test_csv_line_round_trips_through_a_csv_reader() -> None:
    e = event()
    text = (",".join(CSV_COLUMNS) + "\r\n").encode() + e.csv_line() + event(
        actor=None, timestamp=None).csv_line()
    rows = list(csv.DictReader(io.StringIO(text.decode(), newline="")))
    assert rows[0] == {
        "position": "7", "originator_id": e.originator_id, "originator_version": "3",
        "topic": e.topic, "type": e.type, "timestamp": e.timestamp, "actor": e.actor,
        "state": STATE.decode()}
    assert (rows[1]["actor"], rows[1]["timestamp"]) == ("", "")


@pytest.mark.parametrize(("raw", "canonical"), [
    ("2021-06-01T08:30:15.250000+00:00", "2021-06-01T08:30:15.250000Z"),
    ("2021-06-01T08:30:15+00:00", "2021-06-01T08:30:15.000000Z"),
    ("2021-06-01T10:30:15.000001+02:00", "2021-06-01T08:30:15.000001Z"),
])
def test_canonical_time(raw: str, canonical: str) -> None:
    assert canonical_time(raw) == canonical


def test_types_resolve_to_topics_or_fail() -> None:
    assert topics_for(["Assigned", "Ticket.Assigned"]) == ["ledger.domain:Ticket.Assigned"]
    assert topics_for(["ApiKey.Issued"]) == ["ledger.keys:ApiKey.Issued"]
    with pytest.raises(UnknownEventTypeError, match="Nope"):
        topics_for(["Ticket.Opened", "Nope"])
