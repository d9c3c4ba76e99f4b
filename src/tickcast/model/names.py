"""Names that reach a file path, a store query or a log line: the one place that validates them.

Every user name, strategy and model name that comes from a client (a request body, a path
segment, a query parameter) is checked here before it is used. A valid name is also a safe path
component: no ``/``, no NUL, no leading ``.`` (so never ``.`` or ``..``).
"""

from __future__ import annotations

import re

from tickcast.errors import InvalidMessage

USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$")
"""A user name: 1-128 of letters, digits and ``_.@+-``, starting with a letter or digit."""
PATH_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""A strategy or model name: 1-64 of letters, digits and ``_.-``, starting likewise."""
IDENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""Any other identifier taken from a request (a key id such as ``tc_live_1a2b3c4d``, a
connection id such as ``c12``): 1-64 letters, digits, ``_`` or ``-``."""

USER_NAME_RULE = "1-128 of letters, digits and _.@+- starting with a letter or digit"
PATH_NAME_RULE = "use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"


class InvalidName(InvalidMessage):
    """A name or identifier from a request that breaks its rule (HTTP 400, status_code 1003)."""


def is_user_name(value: object) -> bool:
    return isinstance(value, str) and USER_NAME.fullmatch(value) is not None


def is_path_name(value: object) -> bool:
    return isinstance(value, str) and PATH_NAME.fullmatch(value) is not None


def check_user_name(value: object) -> str:
    if not isinstance(value, str) or not is_user_name(value):
        raise InvalidName(f"invalid user name {value!r}: {USER_NAME_RULE}")
    return value


def check_path_name(what: str, value: object) -> str:
    if not isinstance(value, str) or not is_path_name(value):
        raise InvalidName(f"invalid {what} {value!r}: {PATH_NAME_RULE}")
    return value


def check_id(what: str, value: object) -> str:
    """An opaque identifier (a key id, a connection id), see ``IDENT``."""
    if not isinstance(value, str) or IDENT.fullmatch(value) is None:
        raise InvalidName(f"invalid {what} {value!r:.80}")
    return value
