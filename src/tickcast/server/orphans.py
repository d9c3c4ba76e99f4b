"""Helper processes die with the server, even when it is SIGKILLed (no cleanup code runs then).

``die_with_parent`` is the initializer of the model-training pool's worker: on Linux it asks
the kernel for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``), and on every
platform a daemon thread checks once a second that the parent is still the same process. The
pool's resource tracker exits by itself once the server and the worker, the holders of its
pipe, are gone.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

logger = logging.getLogger("tickcast.server")

PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_S = 1.0


def die_with_parent(parent_pid: int) -> None:
    """Make this (child) process die when ``parent_pid`` does."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            logger.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
    watcher = threading.Thread(
        target=_watch, args=(parent_pid,), name="tickcast-parent-watch", daemon=True
    )
    watcher.start()


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCH_INTERVAL_S)
    os._exit(1)
