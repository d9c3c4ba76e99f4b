"""The tickcast error tree.

Every error carries hints telling the boundary how to report it; ``server/refusals.py`` maps each
class to each dialect's wire form. Messages never carry internal details; ``inner`` is an
optional second, more specific text (Vega's ``ErrorDetail.inner``).

    TickcastError
    ├── ConfigError                  bad configuration value (raised at start)
    ├── ProtocolError                the peer broke the protocol
    │   ├── InvalidMessage           unparseable or malformed message
    │   ├── BadParameter             a request parameter that is wrong or unsupported
    │   │   ├── MalformedParameter   a value that does not even parse
    │   │   └── UriTooLong           a request URI over the dialect's limit
    │   ├── UnknownCommand           well-formed but unknown message type
    │   └── MessageTooBig            frame above the size limit
    ├── AuthError
    │   ├── InvalidApiKey            missing, unknown or revoked key
    │   │   ├── AuthTimeout          no key arrived in time (dialects that read it in-band)
    │   │   └── MissingApiKey        no key at all (dialects that tell it from a bad key)
    │   └── NotEntitled              the plan does not grant this
    ├── LimitExceeded                connection / subscription / rate limit
    │   ├── RateLimited              too many requests in a window
    │   └── TooManyStreams           too many streams from one client address
    ├── UnknownStream                no such stream, market or endpoint
    │   └── UnknownId                an id (market, party, candle) that does not exist
    ├── SlowConsumer                 the client does not keep up
    ├── BookError                    inconsistent order book input
    ├── BusError                     bus backend failed (retryable)
    ├── StorageError                 store backend failed (retryable)
    └── Unavailable                  the node is not ready (starting or stopping; retryable)
"""

from __future__ import annotations


class TickcastError(Exception):
    """Base of every tickcast error."""

    code: str = "internal_error"
    close_code: int = 1011
    http_status: int = 500
    retryable: bool = False

    def __init__(self, message: str = "", *, inner: str = "") -> None:
        super().__init__(message or self.__class__.__name__)
        self.message = message or self.__class__.__name__
        self.inner = inner


class ConfigError(TickcastError):
    code = "config_error"


class ProtocolError(TickcastError):
    code = "protocol_error"
    close_code = 1002
    http_status = 400


class InvalidMessage(ProtocolError):
    code = "invalid_message"
    close_code = 1007


class BadParameter(ProtocolError):
    code = "bad_parameter"
    close_code = 1008


class MalformedParameter(BadParameter):
    code = "malformed_parameter"


class UriTooLong(BadParameter):
    code = "uri_too_long"
    http_status = 414


class UnknownCommand(ProtocolError):
    code = "unknown_command"


class MessageTooBig(ProtocolError):
    code = "message_too_big"
    close_code = 1009


class AuthError(TickcastError):
    code = "unauthenticated"
    close_code = 1008
    http_status = 401


class InvalidApiKey(AuthError):
    code = "invalid_api_key"


class AuthTimeout(InvalidApiKey):
    code = "auth_timeout"


class MissingApiKey(InvalidApiKey):
    code = "missing_api_key"


class NotEntitled(AuthError):
    code = "not_entitled"
    http_status = 403


class LimitExceeded(TickcastError):
    code = "limit_exceeded"
    close_code = 1008
    http_status = 429
    retryable = True


class RateLimited(LimitExceeded):
    code = "rate_limited"


class TooManyStreams(LimitExceeded):
    code = "too_many_streams"


class UnknownStream(TickcastError):
    code = "unknown_stream"
    close_code = 1008
    http_status = 404


class UnknownId(UnknownStream):
    code = "unknown_id"


class SlowConsumer(TickcastError):
    code = "slow_consumer"
    close_code = 1008
    retryable = True


class BookError(TickcastError):
    code = "book_error"
    http_status = 400


class BusError(TickcastError):
    code = "bus_error"
    close_code = 1013
    http_status = 503
    retryable = True


class StorageError(TickcastError):
    code = "storage_error"
    close_code = 1013
    http_status = 503
    retryable = True


class Unavailable(TickcastError):
    code = "unavailable"
    close_code = 1013
    http_status = 503
    retryable = True
