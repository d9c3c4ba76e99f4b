"""The lean post-handshake WebSocket protocol: client frames in, handler calls and replies out."""

from __future__ import annotations

import asyncio
import os
import struct
from typing import Any

from tickcast.server.seam.lean import Keepalive, LeanWebSocket, unmask


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False
        self.protocol: Any = None

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_write_buffer_size(self) -> int:
        return 0


class Handler:
    def __init__(self) -> None:
        self.messages: list[str | bytes] = []
        self.disconnects = 0

    def on_message(self, data: str | bytes) -> None:
        self.messages.append(data)

    def on_disconnect(self) -> None:
        self.disconnects += 1


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True) -> bytes:
    mask = os.urandom(4)
    head = bytes(((0x80 if fin else 0) | opcode,))
    length = len(payload)
    flag = 0x80 if masked else 0
    if length < 126:
        head += bytes((flag | length,))
    elif length < 65_536:
        head += bytes((flag | 126,)) + length.to_bytes(2, "big")
    else:
        head += bytes((flag | 127,)) + length.to_bytes(8, "big")
    return head + (mask + unmask(payload, mask) if masked else payload)


def lean(max_size: int = 65_536) -> tuple[LeanWebSocket, FakeTransport, Handler, set[Any]]:
    transport, handler, connections = FakeTransport(), Handler(), set()
    protocol = LeanWebSocket(
        transport,  # type: ignore[arg-type]
        handler,
        max_size=max_size,
        keepalive=Keepalive(None, None),
        connections=connections,
    )
    protocol.start()
    return protocol, transport, handler, connections


async def test_messages_split_anywhere_and_fragmented() -> None:
    protocol, transport, handler, connections = lean()
    assert transport.protocol is protocol and protocol in connections
    data = (
        client_frame(0x1, b'{"type":"Ping","id":1}')
        + client_frame(0x1, b"x" * 300)
        + client_frame(0x2, b"\x00\x01")
        + client_frame(0x1, b"frag", fin=False)
        + client_frame(0x9, b"hi")  # a ping between fragments is allowed
        + client_frame(0x0, b"mented")
    )
    for index in range(0, len(data), 7):  # arbitrary TCP segmentation
        protocol.data_received(data[index : index + 7])
    assert handler.messages == ['{"type":"Ping","id":1}', "x" * 300, b"\x00\x01", "fragmented"]
    assert transport.written == [b"\x8a\x02hi"]  # the pong echoes the ping's payload


async def test_bad_input_closes_with_the_right_code() -> None:
    cases = [
        (client_frame(0x1, b"plain", masked=False), 1002),
        (client_frame(0x1, b"\xff\xfe"), 1007),
        (client_frame(0x1, b"y" * 2_000), 1009),
        (client_frame(0x0, b"orphan"), 1002),
        (client_frame(0x3, b""), 1002),
    ]
    for data, code in cases:
        protocol, transport, handler, connections = lean(max_size=1_024)
        protocol.data_received(data)
        assert transport.written and transport.written[-1][0] == 0x88
        assert struct.unpack("!H", transport.written[-1][2:4])[0] == code
        assert transport.closed and handler.disconnects == 1 and not handler.messages


async def test_close_handshakes_and_shared_keepalive() -> None:
    protocol, transport, handler, connections = lean()
    protocol.data_received(client_frame(0x8, struct.pack("!H", 1000) + b"bye"))
    assert transport.written == [b"\x88\x05\x03\xe8bye"] and transport.closed  # echoed
    protocol.connection_lost(None)
    assert handler.disconnects == 1 and protocol not in connections
    # server-initiated close, then the peer's reply
    protocol, transport, handler, _ = lean()
    protocol.close(1012, "restart")
    assert transport.written[-1].startswith(b"\x88") and handler.disconnects == 1
    protocol.data_received(client_frame(0x1, b"late"))  # ignored after our close
    protocol.data_received(client_frame(0x8, struct.pack("!H", 1012)))
    assert transport.closed and handler.messages == []
    # one pinger for every connection: pings, then fails a silent one with 1011
    keepalive = Keepalive(0.05, 0.1)
    silent = LeanWebSocket(
        FakeTransport(),  # type: ignore[arg-type]
        Handler(),
        max_size=1_024,
        keepalive=keepalive,
        connections=set(),
    )
    silent.start()
    async with asyncio.timeout(5):
        while not silent.transport.closed:  # type: ignore[attr-defined]
            await asyncio.sleep(0.02)
    written = silent.transport.written  # type: ignore[attr-defined]
    assert written[0][0] == 0x89  # ping
    assert written[-1][0] == 0x88 and struct.unpack("!H", written[-1][2:4])[0] == 1011
