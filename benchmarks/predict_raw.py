"""A lean closed-loop ``/ws`` client for ``predict.py --client raw`` (issue 20 point 6).

The ``websockets`` client costs tens of microseconds of Python per request (a task wake-up per
``recv``, frame objects, an assembler): with 50 connections in one process it is a large part
of the latency it measures. ``RawPredictClient`` is an ``asyncio.Protocol`` with no task: the
HTTP upgrade and the key are written by hand, the request frame is masked once and written
as the same bytes every time, and a reply is found by its frame header in ``data_received``,
which stamps the latency and writes the next request in the same callback. Only what the
benchmark needs: unfragmented server frames, pings answered, no extensions.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from urllib.parse import urlsplit

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked final client frame."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        head = bytes((0x80 | opcode, 0x80 | length))
    elif length < 65_536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    return head + mask + apply_mask(payload, mask)


class RawPredictClient(asyncio.Protocol):
    """One connection: ``run`` sends ``request`` ``count`` times (or until ``until``), each when
    the previous reply has arrived (after ``pause`` seconds if set); latencies in ns."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = b""
        self._upgraded = False
        self._frames: asyncio.Queue[bytes] = asyncio.Queue()
        self._request = b""
        self._left = 0
        self._until = 0.0
        self._pause = 0.0
        self._sent_at = 0
        self.latencies: list[int] = []
        self._done: asyncio.Future[None] | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        if not self._upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self._buffer = buffer
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(ConnectionError(buffer[:end].decode(errors="replace")))
                return
            self._upgraded = True
            self.ready.set_result(None)
            buffer = buffer[end + 4 :]
        offset, size = 0, len(buffer)
        while size - offset >= 2:
            opcode, length, head = buffer[offset] & 0x0F, buffer[offset + 1] & 0x7F, 2
            if length == 126:
                if size - offset < 4:
                    break
                length, head = int.from_bytes(buffer[offset + 2 : offset + 4], "big"), 4
            elif length == 127:
                if size - offset < 10:
                    break
                length, head = int.from_bytes(buffer[offset + 2 : offset + 10], "big"), 10
            if size - offset < head + length:
                break
            payload = buffer[offset + head : offset + head + length]
            offset += head + length
            self._frame(opcode, payload)
        self._buffer = buffer[offset:] if offset < size else b""

    def _frame(self, opcode: int, payload: bytes) -> None:
        if opcode == 0x9:
            assert self.transport is not None
            self.transport.write(client_frame(0xA, payload))
        elif opcode in (0x1, 0x2):
            if self._done is None:
                self._frames.put_nowait(payload)
            else:
                self._reply(payload)
        elif opcode == 0x8 and self._done is not None and not self._done.done():
            self._done.set_exception(ConnectionError("closed by the server"))

    def _reply(self, payload: bytes) -> None:
        self.latencies.append(time.perf_counter_ns() - self._sent_at)
        assert self._done is not None
        if b'"success"' not in payload:
            self._done.set_exception(RuntimeError(f"unexpected reply: {payload!r}"))
            return
        self._left -= 1
        if self._left <= 0 or time.monotonic() >= self._until:
            self._done.set_result(None)
        elif self._pause:
            asyncio.get_running_loop().call_later(self._pause, self._send)
        else:
            self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self._sent_at = time.perf_counter_ns()
        self.transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("connection lost"))
        if self._done is not None and not self._done.done():
            self._done.set_exception(ConnectionError("connection lost"))

    async def text(self, text: str) -> bytes:
        """Send one text frame and wait for the next data frame (the key and its reply)."""
        assert self.transport is not None
        self.transport.write(client_frame(0x1, text.encode()))
        return await self._frames.get()

    async def run(self, text: str, *, count: int, until: float, pause: float = 0.0) -> list[int]:
        self.latencies = []
        self._request = client_frame(0x1, text.encode())
        self._left, self._until, self._pause = count, until, pause
        self._done = asyncio.get_running_loop().create_future()
        self._send()
        try:
            await self._done
        finally:
            self._done = None
        return self.latencies

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(0x8, (1000).to_bytes(2, "big")))
            self.transport.close()


async def open_raw(url: str, key: str) -> RawPredictClient:
    """A raw client on ``url`` (ws://host:port/path), authenticated with ``key``."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_connection(RawPredictClient, parts.hostname, parts.port)
    client.transport = transport  # uvloop may call connection_made later
    nonce = base64.b64encode(os.urandom(16)).decode()
    client.transport.write(
        f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await client.ready
    reply = await client.text(key)
    if b"Valid API key." not in reply:
        raise SystemExit(f"authentication failed: {reply!r}")
    return client
