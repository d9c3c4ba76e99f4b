"""API keys never reach a log line."""

from __future__ import annotations

import logging

from tickcast.auth.keys import generate_key
from tickcast.server.logs import install_redaction


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_logs_redact_keys_from_every_logger() -> None:
    """Child loggers and uvicorn's request lines are redacted at the root handlers."""
    capture = Capture()
    root = logging.getLogger()
    root.addHandler(capture)
    old_level = root.level
    root.setLevel(logging.INFO)
    uvicorn = logging.getLogger("uvicorn")  # after a server ran here it no longer propagates
    uvicorn.addHandler(capture)
    try:
        install_redaction()
        key = generate_key("tc_live_")
        logging.getLogger("tickcast.server").info("refused %s", f"/api/v1/ws?api_key={key}&x=1")
        logging.getLogger("uvicorn.error").warning(
            '"WebSocket /api/v1/ws?api_key=%s" [accepted]', key
        )
        logging.getLogger("somebody.else").warning("token %s", key)
    finally:
        uvicorn.removeHandler(capture)
        root.removeHandler(capture)
        root.setLevel(old_level)
    lines = set(capture.lines)
    assert len(lines) == 3
    assert all(key not in line and "***" in line for line in lines), lines
