"""Run the server under uvicorn."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import ssl
import threading

import uvicorn
from fastapi import FastAPI

from tickcast.app import collector
from tickcast.app.build import build_app
from tickcast.config import ServerConfig
from tickcast.server.logs import configure_logging, install_redaction
from tickcast.server.node import Node
from tickcast.server.seam import TickcastWebSocketProtocol, bound_handshakes, http_protocol
from tickcast.server.services import node_of

logger = logging.getLogger("tickcast.server")


def uvicorn_config(config: ServerConfig, app: FastAPI) -> uvicorn.Config:
    bound_handshakes(config.max_header_bytes, config.max_headers)
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        http=http_protocol(config),
        ws=TickcastWebSocketProtocol,
        ws_max_size=config.max_message_bytes,
        ws_per_message_deflate=False,
        ws_ping_interval=config.ping_interval,
        ws_ping_timeout=max(config.idle_timeout - config.ping_interval, 1.0),
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=5,
        ssl_certfile=config.tls_cert or None,
        ssl_keyfile=config.tls_key or None,
    )


GC_THRESHOLDS = collector.GC_THRESHOLDS
"""The collector's thresholds in a serving process (``app/collector.py``: young generations
collected by time, full collections rare)."""


class TickcastServer(uvicorn.Server):
    """uvicorn's server, telling every client why it goes away before uvicorn closes sockets."""

    def __init__(self, config: uvicorn.Config, *, node: Node) -> None:
        super().__init__(config)
        self.node = node
        self.tls_reloads = 0
        self._sighup = False
        self.young_gc = collector.YoungCollector()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        collector.configure()
        install_redaction()  # uvicorn configures its loggers when it starts
        await super().startup(sockets)
        if self.config.ssl is not None and threading.current_thread() is threading.main_thread():
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.reload_tls)
            self._sighup = True
        gc.collect()
        gc.freeze()  # what exists now (modules, catalogue, plans) is never scanned again
        if not self.should_exit:  # uvicorn skips shutdown() after a failed startup
            self.young_gc.start()

    def reload_tls(self) -> bool:
        """Read the certificate and key files again (SIGHUP). The server's one SSLContext takes
        the new pair: new handshakes use it, open connections keep theirs. A bad pair is logged
        and the old one stays."""
        context, config = self.config.ssl, self.config
        if context is None or config.ssl_certfile is None:
            return False
        try:
            context.load_cert_chain(str(config.ssl_certfile), config.ssl_keyfile)
        except (OSError, ssl.SSLError) as error:
            logger.error("TLS reload failed, keeping the current certificate: %s", error)
            return False
        self.tls_reloads += 1
        logger.info("TLS certificate reloaded from %s", config.ssl_certfile)
        return True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.young_gc.stop()
        if self._sighup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._sighup = False
        await self.node.close_connections(1012, "server restart")
        await super().shutdown(sockets)


def serve(config: ServerConfig, *, reuse_port: bool = False, announce: bool = True) -> None:
    """Serve until interrupted; prints where it listens. ``reuse_port``: share the port with
    other worker processes (SO_REUSEPORT, see server/workers)."""
    configure_logging(config.log_level)
    app = build_app(config, announce=announce)
    # sources that learn their markets from a venue do it now: a bad spec exits before serving
    node = node_of(app)
    asyncio.run(node.prepare_sources())
    server = TickcastServer(uvicorn_config(config, app), node=node)
    sock = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((config.host, config.port))
    host, port = sock.getsockname()[:2]
    if announce:
        scheme = "https" if config.tls_cert else "http"
        print(f"tickcast listening on {scheme}://{host}:{port} (docs: /docs)", flush=True)
    server.run(sockets=[sock])
