"""API key helpers: generation, prefixes, hashing, ids, comparison and redaction."""

from __future__ import annotations

import hashlib
import re

import pytest

from tickcast.auth.keys import (
    generate_key,
    hash_key,
    is_test_key,
    is_valid_prefix,
    key_id,
    key_prefix,
    keys_equal,
    looks_like_key,
    redact,
)


def test_generate_key_has_prefix_and_base62_body() -> None:
    """A new key is the default prefix followed by 43 base62 characters."""
    key = generate_key()
    assert re.fullmatch(r"tc_live_[0-9A-Za-z]{43}", key)


def test_generate_key_is_random() -> None:
    """Two keys are never equal."""
    assert len({generate_key() for _ in range(100)}) == 100


@pytest.mark.parametrize("prefix", ["tc_live_", "tc_test_", "ci_live_", "ci_test_", "a1_live_"])
def test_generate_key_accepts_valid_prefixes(prefix: str) -> None:
    """Valid prefixes are used verbatim."""
    assert generate_key(prefix).startswith(prefix)
    assert is_valid_prefix(prefix)


@pytest.mark.parametrize(
    "prefix", ["", "tc_", "tc_prod_", "TC_live_", "1c_live_", "tc_live", "t-c_live_"]
)
def test_generate_key_rejects_invalid_prefixes(prefix: str) -> None:
    """Prefixes not matching <name>_(live|test)_ raise ValueError."""
    with pytest.raises(ValueError, match="prefix"):
        generate_key(prefix)


def test_is_test_key_reads_the_prefix() -> None:
    """Only *_test_ keys are test keys; junk is not."""
    assert is_test_key(generate_key("ci_test_"))
    assert not is_test_key(generate_key("ci_live_"))
    assert not is_test_key("tc_test_short")


def test_key_prefix_of_a_key() -> None:
    """key_prefix returns the prefix and rejects non-keys."""
    assert key_prefix(generate_key("ci_test_")) == "ci_test_"
    with pytest.raises(ValueError):
        key_prefix("not a key")


def test_looks_like_key_needs_twenty_body_chars() -> None:
    """A prefix with fewer than 20 body characters is not key-shaped."""
    assert looks_like_key("tc_live_" + "a" * 20)
    assert not looks_like_key("tc_live_" + "a" * 19)
    assert not looks_like_key("tc_live_" + "a" * 19 + "-")


def test_hash_key_is_sha256_hex() -> None:
    """hash_key is the SHA-256 hex digest of the key."""
    key = generate_key()
    assert hash_key(key) == hashlib.sha256(key.encode()).hexdigest()
    assert len(hash_key(key)) == 64


def test_key_id_is_prefix_and_hash_start() -> None:
    """key_id is the prefix and the first 8 hash characters."""
    key = generate_key("tc_test_")
    assert key_id(key) == "tc_test_" + hash_key(key)[:8]
    assert not looks_like_key(key_id(key))


def test_keys_equal_compares_exactly() -> None:
    """keys_equal is true only for identical strings."""
    key = generate_key()
    assert keys_equal(key, str(key))
    assert not keys_equal(key, key[:-1])
    assert not keys_equal(key, generate_key())


def test_redact_hides_keys_and_api_key_values() -> None:
    """Key-looking tokens and api_key= values become ***."""
    key = generate_key()
    line = f"GET /v1/stream?market=x&api_key={key}&depth=10 auth=Bearer {key}."
    out = redact(line)
    assert key not in out
    assert out == "GET /v1/stream?market=x&api_key=***&depth=10 auth=Bearer ***."
    assert redact("wss://h/ws?API_KEY=secret#frag") == "wss://h/ws?API_KEY=***#frag"


def test_redact_keeps_ordinary_text() -> None:
    """Text without keys, and key ids, are left alone."""
    key = generate_key()
    line = f"key {key_id(key)} connected from 10.0.0.1 tc_live_short"
    assert redact(line) == line
