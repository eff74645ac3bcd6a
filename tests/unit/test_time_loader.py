"""``CanonicalTimeLoader``: PostgreSQL's timestamptz text read straight into the
folded rows' form, the same text ``tables.ts`` makes from a datetime."""

from datetime import datetime

import pytest

from projections.postgres_reads import CanonicalTimeLoader
from projections.tables import ts


@pytest.mark.parametrize(
    ("server_text", "iso"),
    [
        ("2026-12-07 11:20:09.93009+00", "2026-12-07T11:20:09.930090+00:00"),
        ("2026-12-07 11:20:09+00", "2026-12-07T11:20:09+00:00"),
        ("2026-12-07 11:20:09.000001+00", "2026-12-07T11:20:09.000001+00:00"),
        ("2026-12-07 12:20:09.5+01", "2026-12-07T12:20:09.500000+01:00"),
        ("2026-12-07 05:50:09.123456-05:30", "2026-12-07T05:50:09.123456-05:30"),
    ],
)
def test_server_text_becomes_the_canonical_text(server_text: str, iso: str) -> None:
    loaded = CanonicalTimeLoader(0).load(server_text.encode())
    assert loaded == ts(datetime.fromisoformat(iso))
    assert loaded.endswith("Z") and len(loaded) == len("2026-12-07T11:20:09.930090Z")
