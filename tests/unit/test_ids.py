"""ledger.ids: uuid4's ids, read from the system in blocks."""

from __future__ import annotations

import os
import threading
from uuid import UUID

import pytest

from ledger.ids import new_id


def test_ids_are_random_version_4_uuids():
    ids = [new_id() for _ in range(2000)]  # several blocks of 256
    assert all(isinstance(i, UUID) and i.version == 4 for i in ids)
    assert all(i.variant == "specified in RFC 4122" for i in ids)
    assert len(set(ids)) == len(ids)


def test_threads_never_get_the_same_id():
    got: list[list[UUID]] = [[] for _ in range(8)]

    def draw(out: list[UUID]) -> None:
        out.extend(new_id() for _ in range(1000))

    threads = [threading.Thread(target=draw, args=(out,)) for out in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for out in got for i in out]
    assert len(every) == 8000
    assert len(set(every)) == 8000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_does_not_repeat_its_parents_ids():
    new_id()  # the parent holds a block it has not used up
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.write(write, new_id().bytes)
        finally:
            os._exit(0)
    os.close(write)
    try:
        child = UUID(bytes=os.read(read, 16))
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    parent = new_id()
    assert child.version == 4
    assert child != parent, "the child handed out the parent's next id"


def test_no_system_call_per_id(monkeypatch):
    calls = []
    real = os.urandom

    def counting(n: int) -> bytes:
        calls.append(n)
        return real(n)

    monkeypatch.setattr(os, "urandom", counting)
    ids = {new_id() for _ in range(1024)}
    assert len(ids) == 1024
    assert 4 <= len(calls) <= 5, calls  # 1024 ids, 256 per read
