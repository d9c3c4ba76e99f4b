"""A lean post-handshake WebSocket protocol for detached connections (idle memory).

uvicorn's protocol does the HTTP upgrade and the handshake; when an endpoint detaches its
connection (``tickcast.detach``) and nothing of the client has been read yet, the transport is
switched to a :class:`LeanWebSocket`: a slotted object holding the transport, the handler and a
few flags. It parses the client's frames itself (RFC 6455: masked frames, fragmentation, ping,
pong, close, ``max_size``), answers pings, closes with 1002/1007/1009 on bad input (close
payloads are checked by the websockets library, as on every other endpoint), and keeps
connections alive with ONE shared pinger per event loop instead of a timer per connection.
Server frames are written straight to the transport (the hub's shared batches included).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from typing import Any, Protocol

from websockets.exceptions import ProtocolError
from websockets.frames import Close

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

logger = logging.getLogger("tickcast.server")

CLOSE_TIMEOUT_S = 10.0


class Handler(Protocol):
    def on_message(self, data: str | bytes) -> None: ...

    def on_disconnect(self) -> None: ...


def _frame(opcode: int, payload: bytes = b"") -> bytes:
    """One unmasked final server frame (control frames and closes)."""
    length = len(payload)
    if length < 126:
        return bytes((0x80 | opcode, length)) + payload
    if length < 65_536:
        return bytes((0x80 | opcode, 126)) + length.to_bytes(2, "big") + payload
    return bytes((0x80 | opcode, 127)) + length.to_bytes(8, "big") + payload


def close_frame(code: int, reason: str = "") -> bytes:
    return _frame(0x8, struct.pack("!H", code) + reason.encode()[:123])


def unmask(payload: bytes, mask: bytes) -> bytes:
    """The websockets library's mask (its C implementation when built)."""
    return apply_mask(payload, mask) if payload else b""


class LeanWebSocket(asyncio.Protocol):
    """See the module docstring. Attributes mirror what ``ProtocolSink`` reads."""

    __slots__ = (
        "_buffer",
        "_close_timer",
        "_fragments",
        "_fragment_text",
        "_handler",
        "_keepalive",
        "_max_size",
        "close_sent",
        "connections",
        "disconnected",
        "last_ping",
        "ping_sent_at",
        "sending",
        "sink",
        "transport",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        handler: Handler,
        *,
        max_size: int,
        keepalive: Keepalive,
        connections: set[Any],
    ) -> None:
        self.transport = transport
        self._handler: Handler | None = handler
        self._max_size = max_size
        self._buffer: bytes = b""
        self._fragments: list[bytes] | None = None
        self._fragment_text = False
        self._close_timer: asyncio.TimerHandle | None = None
        self._keepalive = keepalive
        self.connections = connections
        self.close_sent = False
        self.disconnected = False
        self.sending = 0
        self.sink: Any = None
        """The connection's ProtocolSink: its ``on_drain`` is called on resume_writing."""
        self.ping_sent_at = 0.0
        self.last_ping = keepalive.now()

    def start(self) -> None:
        self.connections.add(self)
        self._keepalive.add(self)
        self.transport.set_protocol(self)

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        offset = 0
        end = len(buffer)
        while end - offset >= 2 and not self.disconnected:
            first, second = buffer[offset], buffer[offset + 1]
            length = second & 0x7F
            head = 2
            if length == 126:
                if end - offset < 4:
                    break
                length = int.from_bytes(buffer[offset + 2 : offset + 4], "big")
                head = 4
            elif length == 127:
                if end - offset < 10:
                    break
                length = int.from_bytes(buffer[offset + 2 : offset + 10], "big")
                head = 10
            if not second & 0x80:
                self.fail(1002, "client frames must be masked")
                return
            if length > self._max_size:
                self.fail(1009, "message too big")
                return
            if end - offset < head + 4 + length:
                break
            mask = buffer[offset + head : offset + head + 4]
            start = offset + head + 4
            payload = unmask(buffer[start : start + length], mask)
            offset = start + length
            if first & 0x70:
                self.fail(1002, "reserved bits set")
                return
            self._frame_received(first & 0x80 != 0, first & 0x0F, payload)
        self._buffer = buffer[offset:] if offset < end else b""
        if len(self._buffer) > self._max_size + 14:
            self.fail(1009, "message too big")

    def _frame_received(self, fin: bool, opcode: int, payload: bytes) -> None:
        if opcode >= 0x8:
            if not fin or len(payload) > 125:
                self.fail(1002, "bad control frame")
            elif opcode == 0x9:
                if not self.close_sent:  # nothing follows our close frame
                    self._write(_frame(0xA, payload))
            elif opcode == 0xA:
                self.ping_sent_at = 0.0
            elif opcode == 0x8:
                self._close_received(payload)
            else:
                self.fail(1002, "unknown opcode")
            return
        if opcode == 0x0:
            if self._fragments is None:
                self.fail(1002, "unexpected continuation frame")
                return
            self._fragments.append(payload)
            if sum(len(part) for part in self._fragments) > self._max_size:
                self.fail(1009, "message too big")
                return
            if not fin:
                return
            payload, text = b"".join(self._fragments), self._fragment_text
            self._fragments = None
        elif opcode in (0x1, 0x2):
            if self._fragments is not None:
                self.fail(1002, "expected a continuation frame")
                return
            text = opcode == 0x1
            if not fin:
                self._fragments, self._fragment_text = [payload], text
                return
        else:
            self.fail(1002, "unknown opcode")
            return
        self._deliver(payload, text)

    def _deliver(self, payload: bytes, text: bool) -> None:
        handler = self._handler
        if handler is None or self.close_sent:
            return
        if text:
            try:
                message: str | bytes = payload.decode()
            except UnicodeDecodeError:
                self.fail(1007, "invalid UTF-8")
                return
        else:
            message = payload
        handler.on_message(message)

    def _close_received(self, payload: bytes) -> None:
        if self.close_sent:  # the peer answered our close
            self._drop()
            return
        try:  # the websockets library's checks (RFC 6455 section 5.5.1 and 7.4)
            Close.parse(payload)
        except ProtocolError as error:  # a 1-byte payload, or a code not to be sent
            self.fail(1002, str(error))
            return
        except UnicodeDecodeError:
            self.fail(1007, "invalid UTF-8 in the close reason")
            return
        self._write(_frame(0x8, payload))  # echo it, as the websockets library does
        self.close_sent = True
        self._disconnect()
        self._drop()

    def pause_writing(self) -> None:
        return None

    def resume_writing(self) -> None:
        sink = self.sink
        if sink is not None and sink.on_drain is not None:
            sink.on_drain()

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.disconnected = True
        self.close_sent = True
        self.connections.discard(self)
        self._keepalive.discard(self)
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        if self.sink is not None:
            self.sink.on_drain = None
        self._disconnect()

    # -- what ProtocolSink and uvicorn call ---------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        """Only ``websocket.close`` (ProtocolSink.close)."""
        if message["type"] == "websocket.close":
            self.close(int(message.get("code", 1000)), str(message.get("reason", "") or ""))

    def close(self, code: int, reason: str = "") -> None:
        """Send a close frame and wait (bounded) for the peer's."""
        if self.close_sent or self.disconnected:
            return
        self._write(close_frame(code, reason))
        self.close_sent = True
        self._disconnect()
        loop = asyncio.get_running_loop()
        self._close_timer = loop.call_later(CLOSE_TIMEOUT_S, self._drop)

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close 1012 (restart)."""
        if not self.close_sent:
            self._write(close_frame(1012))
            self.close_sent = True
            self._disconnect()
        self._drop()

    def fail(self, code: int, reason: str) -> None:
        if not self.close_sent and not self.disconnected:
            logger.debug("closing a native connection: %s %s", code, reason)
            self._write(close_frame(code, reason))
            self.close_sent = True
        self._disconnect()
        self._drop()

    def ping(self, now: float) -> None:
        if self.close_sent:
            return
        self.ping_sent_at = now
        self.last_ping = now
        self._write(_frame(0x9, b"tc"))

    # -- helpers ------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if not self.disconnected:
            with contextlib.suppress(RuntimeError, OSError):
                self.transport.write(data)

    def _disconnect(self) -> None:
        handler, self._handler = self._handler, None
        if handler is not None:
            handler.on_disconnect()

    def _drop(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            self.transport.close()


class Pinged(Protocol):
    """What the shared pinger keeps alive: a :class:`LeanWebSocket`, or a session above one
    (the feed's lean Engine.IO session pings in its own protocol)."""

    ping_sent_at: float
    last_ping: float

    def ping(self, now: float) -> None: ...

    def fail(self, code: int, reason: str) -> None: ...


class Keepalive:
    """One timer per loop for every lean connection: ping each one every ``interval`` seconds
    and fail those whose pong is ``timeout`` seconds late (1011, as uvicorn does)."""

    def __init__(self, interval: float | None, timeout: float | None) -> None:
        self.loop = asyncio.get_running_loop()
        self.interval = interval
        self.timeout = timeout
        self._members: set[Pinged] = set()
        self._timer: asyncio.TimerHandle | None = None

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def add(self, connection: Pinged) -> None:
        self._members.add(connection)
        if self._timer is None and self.interval:
            self._schedule()

    def discard(self, connection: Pinged) -> None:
        self._members.discard(connection)
        if not self._members and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self) -> None:
        assert self.interval
        tick = max(min(self.interval, self.timeout or self.interval) / 4, 0.05)
        self._timer = asyncio.get_running_loop().call_later(tick, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if not self._members or not self.interval:
            return
        now = self.now()
        interval, timeout = self.interval, self.timeout
        for connection in list(self._members):
            if connection.ping_sent_at:
                if timeout and now - connection.ping_sent_at > timeout:
                    connection.fail(1011, "keepalive ping timeout")
            elif now - connection.last_ping >= interval:
                connection.ping(now)
        self._schedule()


_keepalives: dict[tuple[float | None, float | None, str], Keepalive] = {}


def keepalive_for(
    interval: float | None, timeout: float | None, *, kind: str = "websocket"
) -> Keepalive:
    """The running loop's shared pinger for these settings (one per ``kind`` of ping)."""
    key = (interval, timeout, kind)
    keepalive = _keepalives.get(key)
    if keepalive is None or keepalive.loop is not asyncio.get_running_loop():
        keepalive = _keepalives[key] = Keepalive(interval, timeout)
    return keepalive
