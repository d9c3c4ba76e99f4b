"""The vendor's documented streaming example, with only host, port and schema changed.

Usage: ``python vendor_example.py KEY PORT``.
"""

import json
import sys

from coinmetrics.api_client import CoinMetricsClient

api_key, port = sys.argv[1], int(sys.argv[2])
client = CoinMetricsClient(api_key, host="127.0.0.1", port=port, schema="http")

stream = client.get_stream_market_orderbooks(markets=["binance-btc-usdt-spot"])


def on_message(stream, message):
    message_dict = json.loads(message)
    print(message_dict)
    if message_dict["cm_sequence_id"] == "10":
        print("closing connection")
        stream.close()


stream.run(on_message=on_message)
