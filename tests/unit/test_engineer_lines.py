"""``EngineerLines``: one engineer's reserving commands of a process run one
after another (each submitted once the one before is answered, failed or not);
different engineers' run side by side."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from ledger.reservations import EngineerLines


def test_one_engineers_commands_wait_for_the_one_before() -> None:
    lines = EngineerLines()
    first: Future[str] = Future()
    submitted: list[str] = []

    def submit(name: str, answer: Future[str] | None = None):  # noqa: ANN202
        def run() -> Future[str]:
            submitted.append(name)
            if answer is not None:
                return answer
            done: Future[str] = Future()
            done.set_result(name)
            return done
        return run

    a = lines.run("ana", submit("a1", first))
    b = lines.run("ana", submit("a2"))
    other = lines.run("bo", submit("b1"))
    assert submitted == ["a1", "b1"]  # a2 waits for a1; bo's runs at once
    assert other.result(1) == "b1" and not b.done()

    first.set_exception(RuntimeError("a1 refused"))
    with pytest.raises(RuntimeError, match="a1 refused"):
        a.result(1)
    assert b.result(1) == "a2"  # a failure still lets the next one go
    assert submitted == ["a1", "b1", "a2"]
    assert lines.run("ana", submit("a3")).result(1) == "a3"


def test_a_submit_that_raises_fails_its_future_and_frees_the_line() -> None:
    lines = EngineerLines()

    def broken() -> Future[str]:
        raise ValueError("closed")

    with pytest.raises(ValueError, match="closed"):
        lines.run("ana", broken).result(1)
    done: Future[str] = Future()
    done.set_result("next")
    assert lines.run("ana", lambda: done).result(1) == "next"
