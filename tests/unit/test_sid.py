"""``projections.tables.sid``: ids rendered once, the cache bounded."""

from uuid import UUID, uuid4

from projections import tables
from projections.tables import sid


def test_sid_renders_a_uuid_canonically_and_passes_text_through() -> None:
    value = UUID("12345678-1234-5678-1234-567812345678")
    assert sid(value) == "12345678-1234-5678-1234-567812345678"
    assert sid(value) is sid(UUID(str(value)))  # equal ids share one cached text
    assert sid("eng001") == "eng001"


def test_sid_cache_stays_bounded(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(tables, "SID_CACHE_SIZE", 10)
    ids = [uuid4() for _ in range(35)]
    assert [sid(i) for i in ids] == [str(i) for i in ids]
    assert len(tables._sids) <= 10
