"""``projections.tables.ts`` and ``stamp``: a stored time rendered as the folds
render it, whichever of them parsed it, and the cache bounded."""

from datetime import UTC, datetime, timedelta, timezone

from projections import tables
from projections.tables import stamp, ts


def test_stamp_remembers_the_text_ts_would_render() -> None:
    for raw in ("2026-12-07T16:23:03.123456+00:00", "2026-12-07T16:23:03+00:00",
                "2026-12-07T18:23:03.123456+02:00", "2026-12-07T16:23:03.000001+00:00"):
        value = stamp(raw)
        assert value == datetime.fromisoformat(raw)
        rendered = ts(value)
        tables._stamps.clear()
        assert rendered == ts(datetime.fromisoformat(raw))
    assert ts(stamp("2026-12-07T16:23:03.100000+00:00")) == "2026-12-07T16:23:03.100000Z"


def test_ts_renders_equal_instants_alike_and_stays_bounded(monkeypatch) -> None:  # noqa: ANN001
    at = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)
    assert ts(at) == ts(at.astimezone(timezone(timedelta(hours=3)))) == "2026-12-07T16:00:00.000000Z"
    assert ts(None) is None
    monkeypatch.setattr(tables, "TS_CACHE_SIZE", 10)
    times = [at + timedelta(microseconds=n) for n in range(35)]
    assert [ts(t) for t in times] == [f"2026-12-07T16:00:00.{n:06d}Z" for n in range(35)]
    assert len(tables._stamps) <= 10
