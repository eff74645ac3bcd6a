"""The README's walk-through, run as written on the ledger `make run` creates.

Every ``console`` block of the README's "A walk-through" section is taken apart
into commands (the lines after ``$ ``, with their ``\\`` continuations) and the
output printed under each. The commands run one after another in one ``bash``
against ``ledger serve --demo`` on a fresh SQLite file, with the ``TOKEN`` that
server printed on its first start, as a reader would. Each command's real output
must match what the README shows:

- ids, times and hashes differ from run to run, so UUIDs, timestamps and long hex
  strings are compared by shape only; every other character is compared as is
  (positions and versions included: the demo seed is deterministic);
- ``…`` in the README stands for text it leaves out, on one line;
- a response's headers (``curl -si``) are compared as a set and may be a subset
  of the real ones; the other lines must all appear, in order, but the README may
  leave whole lines out.

Needs ``curl`` and ``jq``, as the README does: missing, the test is skipped,
except with ``CI=true`` where that is a failure. To see the real transcript of
the walk-through (to update the README), run this file:
``.venv/bin/python tests/e2e/test_readme_walkthrough.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from uvicorn_live import free_port, is_ready, stop_process

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## A walk-through"
#: The address the README's commands use: `make run`'s.
README_BASE = "http://127.0.0.1:8000"
MARKER = "@@readme-walkthrough-step-done@@"

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")
HEX = re.compile(r"\b[0-9a-f]{16,}\b")
DATE_HEADER = re.compile(r"^date: .*$", re.IGNORECASE)


@dataclass
class Step:
    command: str
    expected: list[str]


def walkthrough_steps(readme: str) -> list[Step]:
    """The commands of the walk-through's console blocks, with their outputs."""
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    section = readme[start:end if end != -1 else None]
    steps: list[Step] = []
    for block in re.findall(r"^```console\n(.*?)^```", section, re.DOTALL | re.MULTILINE):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            if not line.startswith("$ "):
                raise AssertionError(f"output before any command in a console block: {line!r}")
            command = [line[2:]]
            while command[-1].endswith("\\"):
                i += 1
                command.append(lines[i])
            i += 1
            expected = []
            while i < len(lines) and not lines[i].startswith("$ "):
                expected.append(lines[i])
                i += 1
            steps.append(Step("\n".join(command), expected))
    return steps


def normalise(line: str) -> str:
    line = UUID.sub("<uuid>", line.rstrip("\r"))
    line = TIMESTAMP.sub("<time>", line)
    return HEX.sub("<hex>", line)


def line_pattern(expected: str) -> re.Pattern[str]:
    """``…`` stands for any text on the line; everything else is literal."""
    parts = normalise(expected).split("…")
    return re.compile(".*".join(re.escape(part) for part in parts))


def mismatch(expected: list[str], actual: list[str]) -> str | None:
    """Why ``actual`` does not show what ``expected`` says, or None."""
    expected = [line for line in expected if line.strip()]
    actual = [normalise(line) for line in actual]
    if expected and expected[0].startswith("HTTP/"):
        # Headers: every one the README shows is there (their order is the server's).
        blank = actual.index("") if "" in actual else len(actual)
        head, actual = actual[:blank], actual[blank:]
        head_lower = [h.lower() for h in head]
        while expected and re.match(r"^(HTTP/|[A-Za-z-]+: )", expected[0]):
            pattern = line_pattern(expected[0].lower())
            if not any(pattern.fullmatch(h) for h in head_lower):
                return f"header line {expected[0]!r} not among {head}"
            expected = expected[1:]
    at = 0
    for want in expected:
        pattern = line_pattern(want)
        while at < len(actual) and not pattern.fullmatch(actual[at]):
            at += 1
        if at == len(actual):
            return f"no line matching {want!r} (in order)"
        at += 1
    return None


def run_steps(steps: list[Step], base: str, token: str, workdir: Path) -> list[list[str]]:
    """Runs the commands in one bash, as typed; returns each one's output lines."""
    script = "".join(
        f"{step.command.replace(README_BASE, base)}\nprintf '\\n%s\\n' '{MARKER}'\n"
        for step in steps
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env["TOKEN"] = token
    done = subprocess.run(
        ["bash", "--noprofile", "--norc"], input=script, cwd=workdir, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )
    chunks = (done.stdout + done.stderr).split(f"\n{MARKER}\n")
    outputs = []
    for chunk in chunks[:len(steps)]:
        lines = [DATE_HEADER.sub("date: <date>", line.rstrip("\r")) for line in chunk.split("\n")]
        while lines and not lines[-1]:
            lines.pop()
        outputs.append(lines)
    return outputs


@contextmanager
def make_run_ledger(workdir: Path) -> Iterator[tuple[str, str]]:
    """`ledger serve --demo` (what `make run` starts) on a fresh SQLite file in
    ``workdir``, on a free port; yields (base URL, the token it printed)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    log_path = workdir / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "ledger"), "serve", "--demo",
             "--port", str(port), "--database-url", f"sqlite:///{workdir}/ledger.db"],
            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        started = is_ready(process, base, seconds=90)
        printed = log_path.read_text(errors="replace")
        assert started, f"ledger serve --demo did not start:\n{printed[-3000:]}"
        token = re.search(r"export TOKEN=(\S+)", printed)
        assert token, f"ledger serve --demo printed no `export TOKEN=` line:\n{printed[-3000:]}"
        yield base, token.group(1)
    finally:
        stop_process(process)


def _tools_or_skip() -> None:
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    if missing:
        reason = f"the README's walk-through needs {', '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (required when CI=true)", pytrace=False)
        pytest.skip(reason)


def test_the_readme_walkthrough_has_commands_and_outputs() -> None:
    steps = walkthrough_steps(README.read_text())
    assert len(steps) >= 20
    assert sum(bool(step.expected) for step in steps) >= 15
    assert any(step.command.startswith("curl -si") for step in steps)


def test_a_changed_output_would_be_noticed() -> None:
    shown = ['HTTP/1.1 201 Created', 'etag: "2"', '', '{"id":"…","status":"assigned",…}']
    real = ['HTTP/1.1 201 Created', 'server: uvicorn', 'etag: "2"', '',
            '{"id":"3833dfc5-e45b-413e-8fa8-1bf094fa87e8","status":"assigned","x":1}']
    assert mismatch(shown, real) is None
    assert mismatch(shown, [*real[:2], 'etag: "3"', *real[3:]]) is not None
    assert mismatch(shown, [*real[:4], real[4].replace("assigned", "accepted")]) is not None
    assert mismatch(['{"a":1}', '{"a":2}'], ['{"a":2}', '{"a":1}']) is not None
    stamp = ['{"at":"2026-11-22T13:53:19.451864Z"}']
    assert mismatch(stamp, ['{"at":"2026-12-07T08:45:56.5Z"}']) is None
    assert mismatch(stamp, ['{"at":null}']) is not None


@pytest.mark.slow
def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    _tools_or_skip()
    steps = walkthrough_steps(README.read_text())
    with make_run_ledger(tmp_path) as (base, token):
        outputs = run_steps(steps, base, token, tmp_path)
    assert len(outputs) == len(steps), "the walk-through stopped early"
    for n, (step, output) in enumerate(zip(steps, outputs, strict=True), 1):
        problem = mismatch(step.expected, output)
        assert problem is None, (
            f"README walk-through, command {n}:\n$ {step.command}\n{problem}\n"
            "real output:\n" + "\n".join(output)
        )


def main() -> None:
    """Prints the walk-through's real transcript (of the README, or of a file)."""
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else README
    steps = walkthrough_steps(source.read_text())
    with tempfile.TemporaryDirectory(prefix="readme-walk-") as tmp:
        with make_run_ledger(Path(tmp)) as (base, token):
            outputs = run_steps(steps, base, token, Path(tmp))
    for step, output in zip(steps, outputs, strict=False):
        print(f"$ {step.command}")
        print("\n".join(output))


if __name__ == "__main__":
    main()
