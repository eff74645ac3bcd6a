"""The ledger's transcoder: eventsourcing's stored format, value objects included.

The library's own cases run in tests/integration/test_conformance.py; these are
the ledger's: a registered value object holding a UUID (the certifications to
come), the events already stored in today's format, and the same bytes as the
library's ``JSONTranscoder`` for anything either can store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    StoredEvent,
    Transcoding,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.hashchain import ChainingMapper, split_hash, stored_event_hash
from ledger.transcoder import OrjsonTranscoder

OWNER = UUID("b2723fe2c01a40d2875ea3aac6a09ff5")


@dataclass(frozen=True)
class Cert:
    """A value object as the certifications will be: a name and an owner's id."""

    name: str
    owner: UUID


@dataclass(frozen=True)
class Endorsement:
    """A value object holding another."""

    cert: Cert
    by: UUID


class CertAsDict(Transcoding):
    type = Cert
    name = "cert"

    def encode(self, obj: Cert) -> dict[str, Any]:
        return {"name": obj.name, "owner": obj.owner}

    def decode(self, data: dict[str, Any]) -> Cert:
        return Cert(**data)


class EndorsementAsDict(Transcoding):
    type = Endorsement
    name = "endorsement"

    def encode(self, obj: Endorsement) -> dict[str, Any]:
        return {"cert": obj.cert, "by": obj.by}

    def decode(self, data: dict[str, Any]) -> Endorsement:
        return Endorsement(**data)


def registered(transcoder: Any) -> Any:
    """``transcoder`` with what a ``Ledger`` registers, and the value objects."""
    for transcoding in (
        UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), CertAsDict(), EndorsementAsDict()
    ):
        transcoder.register(transcoding)
    return transcoder


@pytest.fixture
def ours() -> OrjsonTranscoder:
    return registered(OrjsonTranscoder())


@pytest.fixture
def library() -> JSONTranscoder:
    return registered(JSONTranscoder())


# ------------------------------------------------------------- value objects


def test_uuid_inside_a_value_object_comes_back_a_uuid(ours: OrjsonTranscoder) -> None:
    data = ours.encode(Cert("gas-safe", OWNER))
    assert data == (
        b'{"_type_":"cert","_data_":{"name":"gas-safe",'
        b'"owner":{"_type_":"uuid_hex","_data_":"b2723fe2c01a40d2875ea3aac6a09ff5"}}}'
    )
    copy = ours.decode(data)
    assert copy == Cert("gas-safe", OWNER)
    assert type(copy.owner) is UUID


def test_value_object_inside_another_and_inside_containers(ours: OrjsonTranscoder) -> None:
    endorsed = Endorsement(Cert("gas-safe", OWNER), uuid4())
    state = {"certs": [Cert("f-gas", uuid4()), endorsed], "by_name": {"e": endorsed}}
    copy = ours.decode(ours.encode(state))
    assert copy == state
    assert type(copy["certs"][1].cert.owner) is UUID


def test_same_bytes_as_the_library_and_each_reads_the_other(
    ours: OrjsonTranscoder, library: JSONTranscoder
) -> None:
    state = {
        "endorsement": Endorsement(Cert("gas-safe", OWNER), OWNER),
        "at": datetime(2026, 12, 7, 8, 45, tzinfo=timezone.utc),
        "rate": Decimal("12.50"),
    }
    assert ours.encode(state) == library.encode(state)
    assert ours.decode(library.encode(state)) == state
    assert library.decode(ours.encode(state)) == state


def test_the_hash_chain_writes_value_objects_and_reads_them_back(
    ours: OrjsonTranscoder,
) -> None:
    """The write path tags with ``tag`` (sorted keys), not ``encode``."""
    mapper = ChainingMapper(ours)
    event = Certified(
        originator_id=uuid4(), originator_version=1,
        timestamp=datetime.now(timezone.utc), cert=Cert("gas-safe", OWNER),
    )
    stored = mapper.to_stored_event(event)
    copy = mapper.to_domain_event(stored)
    assert copy.cert == event.cert
    assert type(copy.cert.owner) is UUID


@dataclass(frozen=True)
class Certified(DomainEvent):
    cert: Cert


# ---------------------------------------------------- events stored today

#: Events as main stored them before value objects were tagged (written by a
#: Ledger of that commit on SQLite): (originator id, version, topic, state).
STORED_TODAY = [
    ("79791cb7-4b6a-58a5-bf28-b59d7cff65be", 1, "ledger.domain:Engineer.Registered",
     b'{"actor":"admin","availability":1.0,"capacity":1,"class_version":2,"engineer_id":"e1",'
     b'"name":"Eve","originator_topic":"ledger.domain:Engineer","prev_hash":"'
     + b"0" * 64 + b'","skills":["hvac"],"tier":1,"timestamp":{"_data_":'
     b'"2026-12-07T08:45:38.696832+00:00","_type_":"datetime_iso"},"via":null,'
     b'"hash":"553590f5bc11495cd86a6efe6acb2b87e73ae25b37c92a12426c6c68014806e6"}'),
    ("79791cb7-4b6a-58a5-bf28-b59d7cff65be", 2, "ledger.domain:Engineer.Updated",
     b'{"actor":"admin","changes":{"skills":["hvac","boilers"],"tier":2},"engineer_id":"e1",'
     b'"prev_hash":"553590f5bc11495cd86a6efe6acb2b87e73ae25b37c92a12426c6c68014806e6",'
     b'"timestamp":{"_data_":"2026-12-07T08:45:38.698073+00:00","_type_":"datetime_iso"},'
     b'"via":null,'
     b'"hash":"b756c8068032addaeff13b961938d1045438ee87bb2b71befb11c2d1ceae1b06"}'),
    ("c9e02abe-c3d0-4c9a-a73e-8dbf840c80c4", 2, "ledger.domain:Ticket.Assigned",
     b'{"actor":"admin","assignment_id":{"_data_":"ac806bf963314f02816e01d95710da1d",'
     b'"_type_":"uuid_hex"},"assignment_type":"manual","engineer_id":"e1",'
     b'"equipment_id":null,'
     b'"prev_hash":"1416c671141e605e7cfd0b3efa26098d6fbd54b85c832ebc0fc9144d9f8c96bd",'
     b'"reason":"on call","sequence":1,"tier":1,"tier_name":"L1","timestamp":{"_data_":'
     b'"2026-12-07T08:45:38.699995+00:00","_type_":"datetime_iso"},"via":null,'
     b'"hash":"a76ef391b6f4f62cbf8f363d19aaea7a3fac4a630b8e51eef9ca3624e1102d35"}'),
]


@pytest.mark.parametrize(("originator_id", "version", "topic", "state"), STORED_TODAY)
def test_events_stored_today_decode_and_would_be_stored_alike(
    ours: OrjsonTranscoder, originator_id: str, version: int, topic: str, state: bytes
) -> None:
    decoded = ours.decode(state)
    assert type(decoded["timestamp"]) is datetime
    assert decoded["timestamp"].tzinfo is not None
    if "assignment_id" in decoded:
        assert decoded["assignment_id"] == UUID("ac806bf963314f02816e01d95710da1d")
    # Stored again, the event gives the bytes it was stored with, so its hash holds.
    content, stored_hash = split_hash(state) or (b"", "")
    decoded.pop("hash")
    assert orjson.dumps(ours.tag(decoded), option=orjson.OPT_SORT_KEYS) == content
    assert stored_event_hash(UUID(originator_id), version, topic, state) == stored_hash


def test_a_stored_event_reads_back_through_the_ledger_mapper(ours: OrjsonTranscoder) -> None:
    originator_id, version, topic, state = STORED_TODAY[2]
    mapper = ChainingMapper(ours)
    event = mapper.to_domain_event(
        StoredEvent(UUID(originator_id), version, topic, state)
    )
    assert event.assignment_id == UUID("ac806bf963314f02816e01d95710da1d")
    assert event.timestamp == datetime(2026, 12, 7, 8, 45, 38, 699995, tzinfo=timezone.utc)


# ------------------------------------------- what JSON holds, as the library


class Priority(str, Enum):
    HIGH = "high"


class Tier(IntEnum):
    ONE = 1


def test_subclasses_of_json_types_are_stored_as_the_library_stores_them(
    ours: OrjsonTranscoder, library: JSONTranscoder
) -> None:
    state = {"priority": Priority.HIGH, "tier": Tier.ONE}
    assert ours.encode(state) == library.encode(state) == b'{"priority":"high","tier":1}'


def test_an_unregistered_type_is_refused_as_the_library_refuses_it(
    ours: OrjsonTranscoder,
) -> None:
    with pytest.raises(TranscodingNotRegisteredError, match="register a custom transcoding"):
        ours.encode({"at": object()})


def test_an_integer_beyond_64_bits_is_refused_not_stored_otherwise(
    ours: OrjsonTranscoder,
) -> None:
    """orjson prints no integer beyond 64 bits (the library's encoder would)."""
    with pytest.raises(TypeError, match="64-bit"):
        ours.encode({"n": 2**64})


_keys = st.text(max_size=8).filter(lambda k: k not in ("_type_", "_data_"))
_scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20)
    | st.uuids() | st.decimals(allow_nan=False, allow_infinity=False)
    | st.datetimes(timezones=st.none() | st.just(timezone.utc))
    | st.builds(Cert, st.text(max_size=8), st.uuids())
)


def _values(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
        max_leaves=12,
    )


@settings(deadline=None)
@given(value=_values(_scalars))
def test_same_bytes_as_the_library_for_any_value(value: Any) -> None:
    ours, library = registered(OrjsonTranscoder()), registered(JSONTranscoder())
    data = ours.encode(value)
    assert data == library.encode(value)
    assert ours.decode(data) == value


@settings(deadline=None)
@given(value=_values(_scalars | st.floats(allow_nan=False, allow_infinity=False)))
def test_each_reads_what_the_other_wrote_floats_included(value: Any) -> None:
    """Floats may print differently (``1e16`` or ``1e+16``), but read back the same."""
    ours, library = registered(OrjsonTranscoder()), registered(JSONTranscoder())
    assert library.decode(ours.encode(value)) == value
    assert ours.decode(library.encode(value)) == value
