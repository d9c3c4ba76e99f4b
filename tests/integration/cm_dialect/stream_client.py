"""Run the official client's streams, one after another, and print one JSON line per stream.

Usage: ``python stream_client.py '<json spec>'`` with spec ``{"host", "port", "key", "calls":
[{"method", "kwargs", "count", "until_seq"?, "seconds"?}]}``. Each call runs
``CmStream.run(on_message=...)`` in the main thread (the client installs a SIGINT handler) and
closes the WebSocketApp after ``count`` messages (or once a message has ``cm_sequence_id ==
until_seq``; with ``restarts``: once the sequence restarted at "0" that often; on an error
message unless ``close_on_error`` is false; after ``seconds`` in any case). The printed line
holds the messages, the close codes and whether ``run()`` returned.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from coinmetrics.api_client import CoinMetricsClient


def run_call(client: CoinMetricsClient, key: str, call: dict[str, Any]) -> dict[str, Any]:
    messages: list[Any] = []
    closes: list[Any] = []
    errors: list[str] = []
    count = call.get("count", 1)
    until = call.get("until_seq")
    close_on_error = call.get("close_on_error", True)
    restarts = call.get("restarts", 0)

    def on_message(ws: Any, text: str) -> None:
        message = json.loads(text)
        messages.append(message)
        failed = "error" in message and close_on_error
        done = len(messages) >= count or failed
        if until is not None:
            done = message.get("cm_sequence_id") == until or failed
        if restarts:
            starts = [m for m in messages if m.get("cm_sequence_id") == "0"]
            done = (len(starts) > restarts and len(messages) >= count) or failed
        if done:
            ws.close()

    def on_close(ws: Any, code: Any, reason: Any) -> None:
        closes.append([code, reason])

    def on_error(ws: Any, error: Exception) -> None:
        errors.append(repr(error))

    stream = getattr(client, call["method"])(**call.get("kwargs", {}))
    timer = threading.Timer(call.get("seconds", 20.0), lambda: stream.ws.close())
    timer.start()
    try:
        stream.run(on_message=on_message, on_close=on_close, on_error=on_error)
    finally:
        timer.cancel()
    return {
        "method": call["method"],
        "url": stream.ws_url.replace(key, "KEY") if key else stream.ws_url,
        "messages": messages,
        "closes": closes,
        "errors": errors,
        "returned": True,
    }


def main() -> None:
    spec = json.loads(sys.argv[1])
    schema = spec.get("schema", "http")
    client = CoinMetricsClient(spec["key"], host=spec["host"], port=spec["port"], schema=schema)
    for call in spec["calls"]:
        print(json.dumps(run_call(client, spec["key"], call)), flush=True)


if __name__ == "__main__":
    main()
