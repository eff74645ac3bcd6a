"""The front door (issue 20): bodies are limited however they are sent, the token
is checked before any body is read, JSON that is too deep or not JSON at all gets
a clear problem, the export honours ``limit``, and the API's docs come from the
ledger itself. Each refused request changes nothing.

The memory cases run against a real ``ledger serve`` process (``live``), whose
resident memory is read from ``/proc/<pid>/status`` while a client uploads."""

from __future__ import annotations

import csv
import io
import json
import re
import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import pytest

from live_ledger import LiveLedger, serving_ledger

Api = Any

MB = 1024 * 1024
LIMIT = 1_000_000  # Settings.max_body_bytes, the default
JSON = {"content-type": "application/json"}


# ---------------------------------------------------------------- a chunked upload


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB$", status, re.MULTILINE).group(1))


class PeakRss:
    """The highest resident set size of a process while the block runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = rss_kib(pid)
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_kib(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_kib(self.pid))

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.before) / 1024


def chunked_upload(base: str, path: str, headers: dict[str, str], total: int,
                   careful: bool = True) -> tuple[int, dict[str, str], bytes, int]:
    """POSTs ``total`` bytes with ``Transfer-Encoding: chunked`` (no length). A
    careful client stops sending once the server has answered; a careless one
    sends everything before it reads. Returns (status, headers, body, bytes sent)."""
    url = urlsplit(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    head = [f"POST {path} HTTP/1.1", f"Host: {url.netloc}", "Transfer-Encoding: chunked",
            *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    piece = b"[" * (64 * 1024)
    frame = b"%x\r\n%s\r\n" % (len(piece), piece)
    pending, sent = b"", 0
    try:
        while True:
            readable, writable, _ = select.select([sock] if careful else [], [sock], [], 30)
            if readable:
                break  # answered (or closed): stop sending
            if not pending:
                if sent >= total:
                    sock.sendall(b"0\r\n\r\n")
                    break
                pending, sent = frame, sent + len(piece)
            if writable:
                pending = pending[sock.send(pending):]
    except (BrokenPipeError, ConnectionResetError):
        pass
    response = b""
    try:
        while b"\r\n\r\n" not in response or not _complete(response):
            data = sock.recv(65536)
            if not data:
                break
            response += data
    finally:
        sock.close()
    head_bytes, _, body = response.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = dict(line.lower().split(": ", 1) for line in lines[1:])
    return status, fields, body, sent


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    match = re.search(rb"(?im)^content-length: (\d+)\r?$", head)
    return match is not None and len(body) >= int(match.group(1))


#: The tests of ``live`` run on one pytest-xdist worker, which starts its server once.
ON_THE_LIVE_SERVER = pytest.mark.xdist_group("front-door-live")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveLedger]:
    workdir = tmp_path_factory.mktemp("front-door")
    with serving_ledger(f"sqlite:///{workdir / 'ledger.db'}", workdir) as server:
        yield server


@ON_THE_LIVE_SERVER
@pytest.mark.parametrize("careful", [True, False], ids=["careful", "careless"])
@pytest.mark.parametrize("token", [True, False], ids=["token", "no-token"])
def test_a_100_mb_chunked_body_is_cut_at_the_limit_in_bounded_memory(live, token, careful):
    headers = {**JSON, "Authorization": f"Bearer {live.token}"} if token else dict(JSON)
    head = live.head()
    with PeakRss(live.pid) as rss:
        status, fields, body, sent = chunked_upload(
            live.base, "/tickets", headers, 100 * MB, careful=careful)
    assert status == (413 if token else 401), body
    assert fields["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == status
    if token:
        assert f"{LIMIT} bytes" in problem["detail"]
    if careful:
        assert sent < 100 * MB, "the client was answered before it had sent everything"
    else:
        assert sent >= 100 * MB
    assert rss.growth_mb < 20, f"server RSS grew {rss.growth_mb:.1f} MB"
    assert live.head() == head  # nothing recorded
    live.logged(rf"POST /tickets {status} ")  # the access log has it


@ON_THE_LIVE_SERVER
def test_a_declared_length_over_the_limit_is_refused_before_the_body(live):
    url = urlsplit(live.base)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall((f"POST /tickets HTTP/1.1\r\nHost: {url.netloc}\r\n"
                      f"Authorization: Bearer {live.token}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {100 * MB}\r\n\r\n"
                      ).encode())
        answer = sock.recv(65536)  # no byte of the body was sent
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"application/problem+json" in answer


# ---------------------------------------------------------------- in process


def test_a_chunked_body_over_the_limit_is_413_and_records_nothing(api: Api):
    def three_mb() -> Iterator[bytes]:  # a generator: httpx sends it chunked
        for _ in range(48):
            yield b" " * (64 * 1024)

    with api.records_nothing():
        response = api.client.post("/tickets", content=three_mb(), headers=JSON)
        problem = api.problem(response, 413)
    assert problem["type"].endswith("/http-413")


def test_a_body_over_the_limit_read_by_idempotency_is_413_and_the_key_stays_free(api: Api):
    """With an ``Idempotency-Key`` the body is read by that middleware, outside
    FastAPI's handlers: the front door answers the 413 itself."""
    def three_mb() -> Iterator[bytes]:
        for _ in range(48):
            yield b" " * (64 * 1024)

    key = {**JSON, "Idempotency-Key": f"door-{uuid4()}"}
    with api.records_nothing():
        problem = api.problem(api.client.post("/tickets", content=three_mb(), headers=key), 413)
    assert problem["type"].endswith("/http-413")
    # Nothing was reserved: the same key serves a good request.
    assert api.client.post("/tickets", json={"title": "after"}, headers=key).status_code == 201


def test_no_token_is_401_before_the_body_is_read(api: Api):
    """The body here is malformed JSON: had it been read first, the answer would
    be 400 (as it is with a token)."""
    for path in ("/tickets", "/assignments", "/engineers"):
        response = api.client.post(path, content=b"{", headers={**JSON, "Authorization": ""})
        api.problem(response, 401)
        api.problem(api.client.post(path, content=b"{", headers=JSON), 400)


def test_a_role_without_the_permission_is_403_before_the_body_is_read(api: Api):
    services = api.client.app.state.services
    result, token = services.ledger.create_api_key(
        name=f"engineer-{uuid4().hex[:6]}", role="engineer", actor="test").result()
    services.read_side.wait_for(result.position, 5)
    engineer = {**JSON, "Authorization": f"Bearer {token}"}
    problem = api.problem(api.client.post("/tickets", content=b"{", headers=engineer), 403)
    assert "dispatch" in problem["detail"]


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("path", ["/tickets", "/engineers", "/assignments",
                                  "/assignments/escalate"])
def test_json_nested_100000_deep_is_400_malformed_json(api: Api, path: str):
    with api.records_nothing():
        problem = api.problem(api.client.post(path, content=DEEP, headers=JSON), 400)
    assert problem["type"].endswith("/malformed-json"), problem


def test_a_body_that_is_not_utf8_is_400_malformed_json(api: Api):
    problem = api.problem(api.client.post("/tickets", content=b"\xff\xfe", headers=JSON), 400)
    assert problem["type"].endswith("/malformed-json"), problem


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          None])
def test_a_body_that_is_not_json_is_415_with_a_hint(api: Api, content_type: str | None):
    ticket_id, _engineer, assignment = api.assigned()
    body = json.dumps({"title": "x"}).encode()
    headers = {"content-type": content_type or ""}
    with api.records_nothing():
        for method, path in [("POST", "/tickets"), ("POST", "/engineers"),
                             ("POST", f"/tickets/{ticket_id}/close"),
                             ("POST", f"/assignments/{assignment['id']}/reject")]:
            response = api.client.request(method, path, content=body, headers=headers)
            problem = api.problem(response, 415)
            assert "Content-Type: application/json" in problem["detail"], problem
    # JSON under another name is JSON, and an optional body may be left out.
    assert api.client.post(f"/tickets/{ticket_id}/close", content=b"").status_code != 415
    response = api.client.post(f"/assignments/{assignment['id']}/reject", content=b"{}",
                               headers={"content-type": "application/merge-patch+json"})
    assert response.status_code == 200, response.text


# ---------------------------------------------------------------- the export's limit


def test_export_honours_limit(api: Api):
    for _ in range(3):
        api.ticket()
    everything = api.client.get("/events/export").text.splitlines()
    assert len(everything) >= 3
    two = api.client.get("/events/export", params={"limit": 2}).text.splitlines()
    assert two == everything[:2]
    rows = list(csv.reader(io.StringIO(
        api.client.get("/events/export", params={"format": "csv", "limit": 1}).text)))
    assert len(rows) == 2 and rows[0][0] == "position"  # the header and one event
    assert int(rows[1][0]) == json.loads(everything[0])["position"]
    # Going on from one past the last position received.
    after = json.loads(two[-1])["position"] + 1
    rest = api.client.get("/events/export", params={"from": after}).text.splitlines()
    assert two + rest == everything


@pytest.mark.parametrize("limit", ["0", "-1", "many"])
def test_export_refuses_a_limit_it_cannot_honour(api: Api, limit: str):
    api.problem(api.client.get("/events/export", params={"limit": limit}), 422)


# ---------------------------------------------------------------- the docs, offline


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_load_every_asset_from_the_ledger(api: Api, page: str):
    anonymous = {"Authorization": ""}
    html = api.client.get(page, headers=anonymous)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    text = html.text
    assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), (
        "the page names another host")
    assets = re.findall(r'(?:src|href)="([^"]+)"', text)
    assets += re.findall(r"(?:url: |spec-url=)['\"]([^'\"]+)['\"]", text)
    assert len(assets) >= 2, text
    for asset in assets:
        assert asset.startswith("/"), asset
        response = api.client.get(asset, headers=anonymous)
        assert response.status_code == 200, asset
        assert response.content, asset
