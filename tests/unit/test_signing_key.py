"""The checkpoint signing key: created once, even by processes starting together."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from ledger.signing import load_or_create


def _key_id(path: str, start: multiprocessing.synchronize.Event, out: multiprocessing.Queue) -> None:
    start.wait(10)
    out.put(load_or_create(path).key_id)


def test_workers_starting_together_share_one_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "ledger-signing-key.pem"
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_key_id, args=(str(path), start, out)) for _ in range(6)]
    for w in workers:
        w.start()
    start.set()
    ids = [out.get(timeout=30) for _ in workers]
    for w in workers:
        w.join(10)
        assert w.exitcode == 0
    assert len(set(ids)) == 1  # every process signs with the key that was published
    assert load_or_create(path).key_id == ids[0]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
    assert path.stat().st_mode & 0o777 == 0o600
