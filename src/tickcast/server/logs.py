"""Logging set-up: API keys arrive in query strings, so every log line is redacted."""

from __future__ import annotations

import logging
import sys

from tickcast.auth.keys import redact

REDACTED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "tickcast")


class RedactingFilter(logging.Filter):
    """Replaces anything that looks like an API key (or an ``api_key=`` value) with ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def install_redaction() -> None:
    """Attach the filter to every logger and handler that may see a request line."""
    redacting = RedactingFilter()
    for handler in logging.getLogger().handlers:  # every record that reaches the root
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(redacting)
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(redacting)
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(redacting)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    install_redaction()
