"""Authentication and entitlements: API keys, plans and usage metering (pure, no I/O)."""

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
from tickcast.auth.metering import ConnectionCounter, Meter, Usage
from tickcast.auth.plans import Plan, builtin_plans, load_plans, parse_plans

__all__ = [
    "ConnectionCounter",
    "Meter",
    "Plan",
    "Usage",
    "builtin_plans",
    "generate_key",
    "hash_key",
    "is_test_key",
    "is_valid_prefix",
    "key_id",
    "key_prefix",
    "keys_equal",
    "load_plans",
    "looks_like_key",
    "parse_plans",
    "redact",
]
