"""The native session state machine without sockets, on a manual clock."""

from __future__ import annotations

import json

from tickcast.auth.plans import load_plans
from tickcast.clock import ManualClock
from tickcast.model import StreamKey, StreamPosition
from tickcast.session import Attach, Close, Detach, RateLimit, Send, Session

PLANS = load_plans()


def session(plan: str = "pro", rate: RateLimit | None = None) -> tuple[Session, ManualClock]:
    clock = ManualClock()
    known = {"binance-btc-usdt-spot", "coinbase-btc-usd-spot"}
    result = Session(
        plan=PLANS[plan],
        known=lambda key: key.market in known or key.subject == "btc",
        clock=clock,
        rate=rate,
    )
    return result, clock


def sent(outputs: list[object]) -> list[dict[str, object]]:
    return [json.loads(o.frame) for o in outputs if isinstance(o, Send)]


def test_session_subscribe_emits_attach_with_resume() -> None:
    """A valid Subscribe becomes one Attach naming every stream, view and resume point."""
    s, _ = session()
    s.receive_text(
        json.dumps(
            {
                "type": "Subscribe",
                "id": 3,
                "streams": ["book:binance-btc-usdt-spot"],
                "from": {"book:binance-btc-usdt-spot": {"epoch": "e", "seq": 9}},
                "depth": 5,
            }
        )
    )
    (attach,) = s.outputs_to_send()
    assert isinstance(attach, Attach) and attach.id == 3
    key, view, resume = attach.streams[0]
    assert key == StreamKey.parse("book:binance-btc-usdt-spot")
    assert (view.depth, resume) == (5, StreamPosition(9, "e"))
    assert s.subscriptions == {"book:binance-btc-usdt-spot": view}


def test_session_rejects_a_subscribe_whole() -> None:
    """One unknown or unentitled stream rejects the whole Subscribe; nothing is attached."""
    s, _ = session("free")
    s.receive_text(
        json.dumps(
            {
                "type": "Subscribe",
                "id": 1,
                "streams": ["trades:binance-btc-usdt-spot", "book:binance-btc-usdt-spot"],
            }
        )
    )
    outputs = s.outputs_to_send()
    assert sent(outputs)[0]["code"] == "not_entitled"
    assert not any(isinstance(o, Attach) for o in outputs) and not s.subscriptions
    s.receive_text(json.dumps({"type": "Subscribe", "id": 2, "streams": ["trades:nope-a-b-spot"]}))
    assert sent(s.outputs_to_send())[0]["code"] == "unknown_stream"


def test_session_unsubscribe_detaches() -> None:
    """Unsubscribe detaches only streams that were subscribed and confirms them."""
    s, _ = session()
    s.receive_text(
        json.dumps({"type": "Subscribe", "id": 1, "streams": ["trades:binance-btc-usdt-spot"]})
    )
    s.outputs_to_send()
    s.receive_text(
        json.dumps(
            {
                "type": "Unsubscribe",
                "id": 2,
                "streams": ["trades:binance-btc-usdt-spot", "trades:coinbase-btc-usd-spot"],
            }
        )
    )
    outputs = s.outputs_to_send()
    assert Detach(2, ("trades:binance-btc-usdt-spot",)) in outputs
    assert sent(outputs) == [
        {"type": "Unsubscribed", "id": 2, "streams": ["trades:binance-btc-usdt-spot"]}
    ]


def test_session_rate_limit_refills_with_time_and_closes_on_abuse() -> None:
    """Past the burst, commands are refused; time refills tokens; abuse closes with 1008."""
    s, clock = session(rate=RateLimit(per_second=1, burst=2, hard_limit=5))
    for _ in range(3):
        s.receive_text('{"type":"Ping","id":1}')
    outputs = sent(s.outputs_to_send())
    assert [o["type"] for o in outputs] == ["Pong", "Pong", "Error"]
    assert outputs[2]["code"] == "rate_limited"
    clock.advance(1_000_000_000)
    s.receive_text('{"type":"Ping","id":2}')
    assert sent(s.outputs_to_send()) == [{"type": "Pong", "id": 2}]
    for _ in range(5):
        s.receive_text('{"type":"Ping","id":3}')
    assert Close(1008, "rate limit exceeded") in s.outputs_to_send()
    assert s.closed


def test_session_invalid_message_keeps_going() -> None:
    """Unparseable input is answered with InvalidMessage and the session stays open."""
    s, _ = session()
    s.receive_text("{nope")
    s.receive_text('{"type":"Ping","id":1}')
    replies = sent(s.outputs_to_send())
    assert replies[0]["type"] == "InvalidMessage" and replies[1] == {"type": "Pong", "id": 1}
    assert not s.closed
