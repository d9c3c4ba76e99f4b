#!/usr/bin/env python3
"""CPU per small write to many loopback sockets: uvloop's ``transport.write`` against ``os.write``
on the transport's file descriptor (the next step for issue 20 point 1, docs/performance.md).

One process, uvloop: a server accepts ``--conns`` connections from non-blocking client sockets
of the same process; each round writes one ~194-byte WebSocket frame to every server transport
in one C-level ``map`` loop (as ``Channel._write_direct`` does), either through the transports'
bound ``write`` or through ``os.write`` on their fds; the clients are drained every 20 rounds.
Prints the process CPU per write (user + kernel, the loopback receive included), alternating
the two ways. Run it pinned to one core for comparable figures:

    taskset -c 0 .venv/bin/python benchmarks/write_path.py --conns 1000 --rounds 200
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import operator
import os
import socket
import time
from typing import cast

import uvloop

FRAME = b"\x81\x7e\x00\xbe" + b"x" * 190


async def measure(conns: int, rounds: int) -> None:
    loop = asyncio.get_running_loop()
    transports: list[asyncio.Transport] = []
    accepted = asyncio.Event()

    class Accept(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transports.append(cast(asyncio.Transport, transport))  # uvloop's TCPTransport
            if len(transports) == conns:
                accepted.set()

    server = await loop.create_server(Accept, "127.0.0.1", 0, backlog=conns)
    port = server.sockets[0].getsockname()[1]
    clients = []
    for _ in range(conns):
        client = socket.socket()
        client.setblocking(False)
        await loop.sock_connect(client, ("127.0.0.1", port))
        clients.append(client)
    await asyncio.wait_for(accepted.wait(), 60)
    writes = [t.write for t in transports]
    fds = [t.get_extra_info("socket").fileno() for t in transports]

    def drain() -> None:
        for client in clients:
            try:
                while client.recv(1 << 20):
                    pass
            except BlockingIOError:
                pass

    for way in ("transport.write", "os.write", "transport.write", "os.write"):
        spent = 0.0
        for done in range(rounds):
            started = time.process_time()
            if way == "os.write":
                collections.deque(map(os.write, fds, itertools.repeat(FRAME)), maxlen=0)
            else:
                collections.deque(map(operator.call, writes, itertools.repeat(FRAME)), maxlen=0)
            spent += time.process_time() - started
            await asyncio.sleep(0)
            if done % 20 == 19:
                drain()
        print(f"{way:16} {spent / (rounds * conns) * 1e6:.2f} µs CPU per write", flush=True)
    for transport in transports:
        transport.close()
    for client in clients:
        client.close()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conns", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    uvloop.run(measure(args.conns, args.rounds))


if __name__ == "__main__":
    main()
