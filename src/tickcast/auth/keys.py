"""API keys: generation, hashing, public ids, constant-time comparison and log redaction.

A key is ``<prefix><body>``: the prefix matches ``^[a-z][a-z0-9]*_(live|test)_$`` (for example
``tc_live_`` or ``ci_test_``) and the body is 32 bytes from :mod:`secrets` written in base62
(43 characters of ``[0-9A-Za-z]``, no padding). Only :func:`hash_key` of a key is ever stored;
:func:`key_id` is the short public name used in listings, logs and usage records.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

DEFAULT_PREFIX = "tc_live_"
"""Prefix of keys made without an explicit one."""

KEY_BYTES = 32
"""Random bytes in a key body."""

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY_LENGTH = 43
"""Characters needed to write ``KEY_BYTES`` bytes in base62 (62**43 > 2**256)."""

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]*_(live|test)_$")
_KEY_RE = re.compile(r"^([a-z][a-z0-9]*_(?:live|test)_)([0-9A-Za-z]{20,})$")
_KEY_TOKEN_RE = re.compile(r"(?<![0-9A-Za-z_])[a-z][a-z0-9]*_(?:live|test)_[0-9A-Za-z]{20,}")
_QUERY_KEY_RE = re.compile(r"(?i)\b(api[_-]?key=)[^&\s#\"']+")

REDACTED = "***"


def is_valid_prefix(prefix: str) -> bool:
    """Whether ``prefix`` is a valid key prefix such as ``tc_live_`` or ``ci_test_``."""
    return bool(_PREFIX_RE.match(prefix))


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if valid, else raise ValueError saying what a prefix looks like."""
    if not is_valid_prefix(prefix):
        raise ValueError(
            f"invalid key prefix {prefix!r}: expected <name>_live_ or <name>_test_, "
            "with <name> lower-case letters and digits starting with a letter"
        )
    return prefix


def _base62(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    while number:
        number, digit = divmod(number, 62)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits)).rjust(_BODY_LENGTH, "0")


def generate_key(prefix: str = DEFAULT_PREFIX) -> str:
    """Make a new random key: ``prefix`` + 32 random bytes in base62 (43 characters)."""
    check_prefix(prefix)
    return prefix + _base62(secrets.token_bytes(KEY_BYTES))


def looks_like_key(key: str) -> bool:
    """Whether ``key`` has the shape of an API key (valid prefix + at least 20 body chars)."""
    return isinstance(key, str) and bool(_KEY_RE.match(key))


def key_prefix(key: str) -> str:
    """The prefix of a key, e.g. ``tc_live_``; ValueError if it is not key-shaped."""
    match = _KEY_RE.match(key) if isinstance(key, str) else None
    if match is None:
        raise ValueError("not an API key")
    return match.group(1)


def is_test_key(key: str) -> bool:
    """Whether ``key`` is a test key (prefix ends in ``_test_``); False if not key-shaped."""
    return looks_like_key(key) and key_prefix(key).endswith("_test_")


def hash_key(key: str) -> str:
    """SHA-256 of the key, as 64 lower-case hex characters.

    A single fast hash (no salt, no key stretching) is appropriate here because keys carry 256
    bits of randomness: unlike passwords they cannot be guessed or brute-forced from the hash,
    and an unsalted digest lets the store find a key by an indexed lookup on its hash.
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_id(key: str) -> str:
    """Short public identifier: the key's prefix + the first 8 hex characters of its hash."""
    return key_prefix(key) + hash_key(key)[:8]


def keys_equal(a: str, b: str) -> bool:
    """Compare two keys (or hashes) in constant time."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def redact(text: str) -> str:
    """Replace key-looking tokens and ``api_key=`` query values in a log line or URL with ***."""
    text = _QUERY_KEY_RE.sub(lambda match: match.group(1) + REDACTED, text)
    return _KEY_TOKEN_RE.sub(REDACTED, text)
