"""Dashboard sessions: expiry, CSRF comparison, origin checks, URL redaction."""

from __future__ import annotations

from tickcast.dashboard.sessions import SessionStore, csrf_ok, same_origin
from tickcast.dashboard.views import redact_url


def test_session_expires_after_ttl() -> None:
    now = [1000.0]
    store = SessionStore(ttl=60, now=lambda: now[0])
    session = store.create("tc_live_key")
    assert store.get(session.token) is session
    now[0] += 59.9
    assert store.get(session.token) is session
    now[0] += 0.2
    assert store.get(session.token) is None and len(store) == 0


def test_sessions_are_distinct_and_dropped_on_sign_out() -> None:
    store = SessionStore(ttl=60, now=lambda: 0.0)
    one, two = store.create("k"), store.create("k")
    assert one.token != two.token and one.csrf != two.csrf
    store.drop(one.token)
    assert store.get(one.token) is None and store.get(two.token) is two
    assert store.get(None) is None and store.get("forged") is None


def test_csrf_and_origin_checks() -> None:
    session = SessionStore(ttl=60, now=lambda: 0.0).create("k")
    assert csrf_ok(session, session.csrf)
    assert not csrf_ok(session, None) and not csrf_ok(session, session.csrf + "x")
    assert same_origin("http://h:8080", "h:8080", "http")
    assert same_origin(None, "h:8080", "http")
    assert not same_origin("http://evil.example", "h:8080", "http")


def test_bus_and_store_urls_lose_their_credentials() -> None:
    assert redact_url("redis://:secret@db:6379/0") == "redis://db:6379/0"
    assert redact_url("postgresql://u:p@pg/tickcast") == "postgresql://pg/tickcast"
    assert redact_url("memory") == "memory"
