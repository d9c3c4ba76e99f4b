"""The transport seam: every use of uvicorn's, websockets', Starlette's private, python-engineio's
and python-socketio's internals lives in this package, so that an upgrade of one of them breaks
here, loudly (tests/unit/server/seam/ pins each internal relied on), and nowhere else.

Contract (what the rest of the server may rely on; nothing outside this package touches a
third party's private attribute):

* ``run.py`` serves with :class:`TickcastWebSocketProtocol` (``ws=``) and :func:`http_protocol`
  (``http=``), after :func:`bound_handshakes`. Under any other ASGI server every endpoint still
  works: :func:`sink_of` is None, :func:`batched` is False, :func:`transport_of` is None and
  :func:`drop_transport` returns False, and the endpoints fall back to standard ASGI messages.
* Writing: :func:`frame_writer` gives one writer of frame batches per WebSocket (one
  ``transport.write`` per batch under tickcast's protocol); :func:`sink_of` gives the
  :class:`ProtocolSink` through which the hub writes shared batches straight to the transport.
  :func:`frame_batch` frames payloads as text frames.
* Detaching: after ``accept``, :func:`detach` hands the connection to a
  :class:`DetachedHandler` (``on_message``, ``on_disconnect``) and the ASGI call may return;
  an untouched connection then runs on the slotted
  :class:`~tickcast.server.seam.lean.LeanWebSocket`.
* Dropping: :func:`drop_transport` closes TCP without a close frame (and stops uvicorn from
  writing its own 1012 at shutdown); :func:`close_frame` is an RFC 6455 close frame.
* Reading: :func:`incoming` yields a client's data frames until it goes away.
* Socket.IO: :mod:`tickcast.server.seam.engineio` (``new_server``, ``Sessions``, ``refusal``,
  ``asgi_app``) for the price feed.
* HTTP: :func:`http_protocol` bounds request heads (431 / 408).
"""

from __future__ import annotations

from tickcast.server.seam import engineio
from tickcast.server.seam.asgi import (
    FrameWriter,
    asgi_send,
    batched,
    close_frame,
    detach,
    drop_transport,
    frame_writer,
    transport_of,
)
from tickcast.server.seam.messages import incoming
from tickcast.server.seam.uvicorn_http import http_protocol
from tickcast.server.seam.uvicorn_ws import (
    DETACH,
    WRITE_EXTENSION,
    DetachedHandler,
    ProtocolSink,
    TickcastWebSocketProtocol,
    bound_handshakes,
    frame_batch,
    sink_of,
)

__all__ = [
    "DETACH",
    "WRITE_EXTENSION",
    "DetachedHandler",
    "FrameWriter",
    "ProtocolSink",
    "TickcastWebSocketProtocol",
    "asgi_send",
    "batched",
    "bound_handshakes",
    "close_frame",
    "detach",
    "drop_transport",
    "engineio",
    "frame_batch",
    "frame_writer",
    "http_protocol",
    "incoming",
    "sink_of",
    "transport_of",
]
