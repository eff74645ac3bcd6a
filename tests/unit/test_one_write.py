"""A response's head and body leave in one write (api/onewrite.py), driven through
uvicorn's own protocol code with a recording transport; nothing held is lost,
delayed past the loop's next turn, or reordered."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from api.onewrite import HeldHeadTransport, OneWriteHttpProtocol


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default)

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _protocol(app: Any) -> tuple[OneWriteHttpProtocol, RecordingTransport]:
    config = Config(app=app, http=OneWriteHttpProtocol, log_level="warning")
    config.load()
    protocol = OneWriteHttpProtocol(config=config, server_state=ServerState(), app_state={})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def _settle(transport: RecordingTransport, until: bytes, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while until not in b"".join(transport.writes):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never written: {until!r}; got {transport.writes!r}")
        await asyncio.sleep(0.005)


async def json_app(scope: Any, receive: Any, send: Any) -> None:
    body = b'{"ok": true}'
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def test_a_response_is_one_write_and_keep_alive_requests_each_their_own() -> None:
    async def main() -> list[bytes]:
        protocol, transport = _protocol(json_app)
        protocol.data_received(b"POST /t HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        await _settle(transport, b'{"ok": true}')
        protocol.data_received(b"GET /t HTTP/1.1\r\nHost: x\r\n\r\n")
        await _settle(transport, b"true}HTTP/1.1 201")
        await asyncio.sleep(0.02)
        return transport.writes

    writes = asyncio.run(main())
    assert len(writes) == 2, writes
    for w in writes:
        assert w.startswith(b"HTTP/1.1 201 Created\r\n")
        assert w.endswith(b'\r\n\r\n{"ok": true}')


def test_a_head_response_without_a_body_write_still_goes_out() -> None:
    async def main() -> list[bytes]:
        protocol, transport = _protocol(json_app)
        protocol.data_received(b"HEAD /t HTTP/1.1\r\nHost: x\r\n\r\n")
        await _settle(transport, b"\r\n\r\n")
        return transport.writes

    writes = asyncio.run(main())
    assert len(writes) == 1 and writes[0].startswith(b"HTTP/1.1 201")
    assert b"ok" not in writes[0]


def test_a_streamed_head_is_not_held_until_the_first_chunk() -> None:
    async def main() -> tuple[list[bytes], list[bytes]]:
        release = asyncio.Event()

        async def streaming(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream")]})
            await release.wait()
            await send({"type": "http.response.body", "body": b"data: 1\n\n",
                        "more_body": True})
            await send({"type": "http.response.body", "body": b""})

        protocol, transport = _protocol(streaming)
        protocol.data_received(b"GET /s HTTP/1.1\r\nHost: x\r\n\r\n")
        await _settle(transport, b"transfer-encoding: chunked\r\n\r\n")
        head_only = list(transport.writes)
        release.set()
        await _settle(transport, b"0\r\n\r\n")
        return head_only, transport.writes

    head_only, writes = asyncio.run(main())
    assert len(head_only) == 1 and b"data:" not in head_only[0]
    assert b"".join(writes).endswith(b"9\r\ndata: 1\n\n\r\n0\r\n\r\n")


def test_100_continue_reaches_the_client_before_it_sends_the_body() -> None:
    async def echo(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        body = message.get("body", b"")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def main() -> list[bytes]:
        protocol, transport = _protocol(echo)
        protocol.data_received(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                               b"Expect: 100-continue\r\n\r\n")
        await _settle(transport, b"100 Continue")  # before any body was sent
        protocol.data_received(b"hello")
        await _settle(transport, b"\r\n\r\nhello")
        return transport.writes

    writes = asyncio.run(main())
    assert writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert len(writes) == 2  # the interim response, then head and body together
    assert writes[1].startswith(b"HTTP/1.1 200 OK") and writes[1].endswith(b"hello")


def test_what_is_held_is_written_before_the_connection_closes() -> None:
    async def main() -> RecordingTransport:
        transport = RecordingTransport()
        held = HeldHeadTransport(transport, asyncio.get_running_loop())
        held.write(b"HTTP/1.1 200 OK\r\n\r\n")
        held.close()
        return transport

    transport = asyncio.run(main())
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\n"] and transport.closed


def test_nothing_held_is_written_to_a_closing_connection() -> None:
    async def main() -> RecordingTransport:
        transport = RecordingTransport()
        held = HeldHeadTransport(transport, asyncio.get_running_loop())
        held.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.closed = True  # the peer went away
        await asyncio.sleep(0.01)  # the loop's next turn
        return transport

    assert asyncio.run(main()).writes == []


def test_ledger_serve_runs_this_protocol() -> None:
    from uvicorn.importer import import_from_string

    from api.cli import HTTP_PROTOCOL

    assert import_from_string(HTTP_PROTOCOL) is OneWriteHttpProtocol
