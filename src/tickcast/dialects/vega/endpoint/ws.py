"""``/api/v2/stream/*`` over WebSocket and as chunked NDJSON over plain HTTP.

WebSocket: like the data-node's wsproxy, every request is upgraded first and checked after; each
line is one text frame. An error is one text frame, after which the endpoint returns without a
close frame: uvicorn then closes the TCP connection (``run_asgi`` closes the transport when the
application returns), so clients see an abnormal closure (1006) and the vendor sample's
``run_forever(reconnect=5)`` reconnects, as it does against a real node.

Under tickcast's WebSocket protocol a stream is detached after the handshake (``tickcast.detach``,
as native connections are): the ASGI call returns and the stream runs on loop callbacks, no reader
or writer task per stream (``VegaStream.detach_to``); the same frames, pings, closes and the same
FIN without a close frame at the end. Under another ASGI server a reader and a writer task run.

Plain GET: an HTTP 200 chunked response of ``<line>\\n``; a refusal before the first line is
answered with the HTTP status of its gRPC code and the error line as body (grpc-gateway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from tickcast.dialects.vega.endpoint.admit import admit
from tickcast.dialects.vega.endpoint.feed import VegaFeed
from tickcast.dialects.vega.endpoint.stream import VegaStream
from tickcast.dialects.vega.wire.errors import VegaWire
from tickcast.errors import TickcastError
from tickcast.server.connections import CLOSE_TIMEOUT_S
from tickcast.server.seam import detach, drop_transport, frame_writer, sink_of
from tickcast.server.services import services_of

logger = logging.getLogger("tickcast.server")

NDJSON = "application/json"


def _feed(app: object) -> VegaFeed:
    return services_of(app).service(VegaFeed)


def _refused(feed: VegaFeed, error: TickcastError) -> VegaWire:
    """Count ``error`` and return its cell of the refusal table's Vega column (an error the
    column has no cell for is not a refusal: it propagates)."""
    wire = feed.node.connections.refused(error).vega
    if wire is None:
        raise error
    return wire


def _address(client: object) -> tuple[str, str]:
    host = getattr(client, "host", None) or "?"
    port = getattr(client, "port", None)
    return host, f"{host}:{port}"


async def vega_ws_endpoint(websocket: WebSocket) -> None:
    feed = _feed(websocket.app)
    await websocket.accept()
    host, remote = _address(websocket.client)
    try:
        stream = await admit(
            feed,
            path=websocket.path_params.get("path", ""),
            query=websocket.query_params.multi_items(),
            headers=_bearer_from_subprotocol(websocket.headers),
            host=host,
            remote=remote,
        )
    except TickcastError as error:
        line = _refused(feed, error).line(error)
        with contextlib.suppress(Exception):
            await websocket.send_text(line.decode())
        return  # no close frame: uvicorn drops the TCP connection
    sink = sink_of(websocket.scope)
    if sink is not None:  # tickcast's protocol: no task per stream
        stream.detach_to(sink)
        try:
            stream.start()
        except BaseException:
            stream.release()
            drop_transport(websocket, flush=True)
            raise
        await detach(websocket, stream)  # a client already gone is released at once
        return
    await _run_with_tasks(websocket, stream)


async def _run_with_tasks(websocket: WebSocket, stream: VegaStream) -> None:
    """Under another ASGI server: a reader and a writer task until the stream ends."""
    reader = asyncio.create_task(_read_until_gone(websocket, stream))
    writer = asyncio.create_task(_write(websocket, stream))
    try:
        stream.start()
        await stream.ended_event.wait()
        # the last line (an error, if any) gets a moment to go out; a client that does not
        # read is dropped anyway
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(writer), CLOSE_TIMEOUT_S)
    finally:
        for task in (reader, writer):
            task.cancel()
        for task in (reader, writer):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # what was written goes out, then FIN without a close frame, as the data-node does; this
        # happens before uvicorn's shutdown could send its own close frame (1012)
        drop_transport(websocket, flush=True)
        stream.release()


def _bearer_from_subprotocol(headers: Mapping[str, str]) -> Mapping[str, str]:
    """wsproxy turns ``Sec-WebSocket-Protocol: Bearer, <token>`` into ``Authorization``."""
    protocol = headers.get("sec-websocket-protocol", "")
    scheme, _, token = protocol.partition(",")
    if scheme.strip().lower() != "bearer" or not token.strip():
        return headers
    return {**headers, "authorization": f"Bearer {token.strip()}"}


async def _read_until_gone(websocket: WebSocket, stream: VegaStream) -> None:
    """Client frames are ignored (server-streaming RPC); a disconnect ends the stream."""
    while True:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            break
        if message["type"] == "websocket.disconnect":
            break
    stream.end()


async def _write(websocket: WebSocket, stream: VegaStream) -> None:
    write = frame_writer(websocket, checked=False)
    try:
        async for frames in stream.batches():
            await write(frames)
    except OSError:  # the peer went away while writing (uvicorn's ClientDisconnected)
        logger.debug("vega stream %s: peer gone", stream.id)
    finally:
        stream.end()


async def vega_http_endpoint(request: Request) -> Response:
    feed = _feed(request.app)
    host, remote = _address(request.client)
    try:
        stream = await admit(
            feed,
            path=request.path_params.get("path", ""),
            query=request.query_params.multi_items(),
            headers=request.headers,
            host=host,
            remote=remote,
        )
    except TickcastError as error:
        wire = _refused(feed, error)
        body = wire.line(error) + b"\n"
        return Response(body, status_code=wire.http_status, media_type=NDJSON)
    # release also runs when the client leaves before the body starts (background tasks run
    # after the response's task group ends, cancelled or not)
    return StreamingResponse(
        _body(stream), media_type=NDJSON, background=BackgroundTask(stream.release)
    )


async def _body(stream: VegaStream) -> AsyncIterator[bytes]:
    stream.start()
    try:
        async for frames in stream.batches():
            yield b"\n".join(frames) + b"\n"
    finally:
        stream.release()
