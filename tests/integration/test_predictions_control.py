"""Models through the control plane (train, show, list, import, delete) and live predictions
streamed over the native protocol."""

from __future__ import annotations

import pickle
from typing import Any

import httpx
import skops.io
from sklearn.svm import SVC
from tests.conftest import ServerFactory
from tests.integration.predictions_helpers import authenticated, recv_json, request, ws_url
from tests.integration.wire import MARKET, publish, recv_until
from websockets.asyncio.client import connect

ROWS = [{"point1": i % 5, "point2": (i * 3) % 7, "label": "up" if i % 5 > 2 else "down"}
        for i in range(40)]  # fmt: skip


class Gadget:
    """Not an estimator: skops stores it as an untrusted object."""

    def __init__(self) -> None:
        self.payload = "anything"


async def test_train_show_list_import_delete(start_server: ServerFactory) -> None:
    server = await start_server(sources="none")
    key = await server.key("pro", "ann")
    auth = {"X-API-Key": key}
    body: dict[str, Any] = {
        "strategy": "example_strategy",
        "name": "DecisionTree",
        "type": "class",
        "target": "label",
        "rows": ROWS,
    }
    async with httpx.AsyncClient(base_url=server.http, headers=auth, timeout=60) as http:
        trained = await http.post("/api/v1/models", json=body)
        assert trained.status_code == 201, trained.text
        meta = trained.json()
        assert meta["version"] == 1 and meta["features"] == ["point1", "point2"]
        assert meta["rows"] == 40 and meta["classes"] == ["down", "up"]
        assert set(meta["metrics"]) == {"accuracy", "f1_macro"}
        again = await http.post("/api/v1/models", json=body | {"algorithm": "knn"})
        assert again.json()["version"] == 2
        path = "/api/v1/models/example_strategy/class/DecisionTree"
        shown = (await http.get(path)).json()
        assert shown["algorithm"] == "knn" and [v["version"] for v in shown["versions"]] == [1, 2]
        listed = (await http.get("/api/v1/models")).json()
        assert [(m["name"], m["version"]) for m in listed] == [("DecisionTree", 2)]
        assert listed[0]["metrics"] and listed[0]["rows"] == 40
        csv = "x,y\n" + "".join(f"{i},{2 * i + 1}\n" for i in range(12))
        reg = {"strategy": "s", "name": "line", "type": "reg", "target": "y", "csv": csv}
        line = await http.post("/api/v1/models", json=reg | {"algorithm": "linear_regression"})
        assert line.status_code == 201 and line.json()["metrics"]["r2"] > 0.99
        both = await http.post("/api/v1/models", json=reg | {"rows": ROWS})
        assert both.status_code == 400 and "exactly one of csv and rows" in both.text
        bad = await http.post("/api/v1/models", json=body | {"algorithm": "linear_regression"})
        assert bad.status_code == 400 and "cannot train a 'class'" in bad.json()["message"]

        # uploads: pickles and unsafe or unsupported skops files are refused
        params = {"strategy": "s", "name": "up", "type": "class", "features": "point1,point2"}
        pickled = pickle.dumps({"not": "a model"})
        refused = await http.post("/api/v1/models/import", params=params, content=pickled)
        assert refused.status_code == 400 and "pickle" in refused.json()["message"]
        untrusted = skops.io.dumps(Gadget())
        refused = await http.post("/api/v1/models/import", params=params, content=untrusted)
        assert refused.status_code == 400 and "untrusted" in refused.json()["message"]
        svc = skops.io.dumps(SVC().fit([[0, 0], [1, 1], [0, 1], [1, 0]], ["a", "b", "a", "b"]))
        refused = await http.post("/api/v1/models/import", params=params, content=svc)
        assert refused.status_code == 400 and "not a supported estimator" in refused.text
        assert (await http.get("/api/v1/models/s/class/up")).status_code == 404

        ws = await authenticated(ws_url(server.http), key)
        async with ws:
            await ws.send(request(key, [{"point1": 4, "point2": 0}]))
            assert (await recv_json(ws))["prediction"] == "up"
            assert (await http.delete(path)).status_code == 204
            await ws.send(request(key, [{"point1": 4, "point2": 0}]))
            gone = await recv_json(ws)
        assert gone["message"] == "Model configuration not found in the backend."
        assert (await http.delete(path)).status_code == 404

    free = await server.key("free", "fred")
    async with httpx.AsyncClient(base_url=server.http, headers={"X-API-Key": free}) as http:
        assert (await http.get("/api/v1/models")).status_code == 403


def _market_events(start: int, count: int) -> list[dict[str, Any]]:
    """A trade and a quote every second; the price zig-zags so both directions occur."""
    events: list[dict[str, Any]] = []
    for n in range(start, start + count):
        time_ns = 1_767_225_600_000_000_000 + n * 1_000_000_000
        price = 100 + (n % 7) - (n % 3)
        events.append(
            {
                "type": "trade",
                "market": MARKET,
                "id": f"t{n}",
                "price": f"{price}.00",
                "size": f"{1 + n % 4}.000",
                "side": "buy",
                "time": time_ns,
            }
        )
        events.append(
            {
                "type": "quote",
                "market": MARKET,
                "bid_price": f"{price - 1}.00",
                "bid_size": f"{1 + n % 5}.000",
                "ask_price": f"{price + 1}.00",
                "ask_size": "2.000",
                "time": time_ns,
            }
        )
    return events


async def test_live_predictions_are_streamed(start_server: ServerFactory) -> None:
    server = await start_server(sources="none")
    key = await server.key("publisher", "quant")
    auth = {"X-API-Key": key}
    assert (await publish(server.http, key, _market_events(0, 60))).status_code == 200
    features = ["return_2s", "volume_3s", "trades_3s", "spread", "imbalance"]
    async with httpx.AsyncClient(base_url=server.http, headers=auth, timeout=60) as http:
        trained = await http.post(
            "/api/v1/models/from-market",
            json={
                "strategy": "live",
                "name": "tree",
                "type": "class",
                "market": MARKET,
                "features": features,
                "horizon_s": 1,
            },
        )
        assert trained.status_code == 201, trained.text
        assert trained.json()["features"] == features and trained.json()["rows"] >= 50
        attached = await http.post(
            "/api/v1/predictions/live",
            json={"strategy": "live", "name": "tree", "type": "class", "market": MARKET,
                  "interval_ms": 0},
        )  # fmt: skip
        assert attached.status_code == 201, attached.text
        assert attached.json()["stream"] == "predictions:live:tree"
        stream = "predictions:live:tree"
        async with connect(f"{server.ws}?streams={stream}", additional_headers=auth) as ws:
            await recv_until(ws, lambda m: m["type"] == "Subscribed")
            assert (await publish(server.http, key, _market_events(60, 3))).status_code == 200
            update, _ = await recv_until(ws, lambda m: m["type"] == "Update")
        data = update["data"]
        assert update["stream"] == stream and data["value"] in ("up", "down", "flat")
        assert list(data["features"]) == features
        # the stream is private to its owner (and admin keys): another user is told it is unknown
        other = {"X-API-Key": await server.key("pro", "eve")}
        async with connect(f"{server.ws}?streams={stream}", additional_headers=other) as ws:
            refusal, _ = await recv_until(ws, lambda m: m["type"] == "Error")
        assert refusal["code"] == "unknown_stream" and stream in refusal["message"]
        async with connect(
            f"{server.ws}?streams={stream}", additional_headers={"X-API-Key": server.admin_key}
        ) as ws:
            await recv_until(ws, lambda m: m["type"] == "Subscribed")
        listed = (await http.get("/api/v1/predictions/live")).json()
        assert listed[0]["published"] >= 1
        assert (await http.delete("/api/v1/predictions/live/live/tree")).status_code == 204
