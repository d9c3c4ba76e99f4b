"""The Vega documentation's websocket sample, as published, pointed at a URL from argv.

Run as a subprocess (``python -u``) by test_vega_sample.py: it prints every message it
receives (one line each) and stops on SIGINT through ``rel.signal(2, rel.abort)``.
"""

import sys

import rel
import websocket

url = sys.argv[1]


def on_message(ws, message):
    print(message)


ws = websocket.WebSocketApp(url, on_message=on_message)
ws.run_forever(dispatcher=rel, reconnect=5)
rel.signal(2, rel.abort)
rel.dispatch()
