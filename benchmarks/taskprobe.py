"""``tickcast`` with a task counter: on SIGUSR1 the server writes how many asyncio tasks its event
loop holds to the file named by ``$TASKPROBE_OUT`` (``benchmarks/idle_memory.py --tasks``: tasks
per idle connection, issue 20 point 2). Benchmark only: nothing in ``src/`` knows about it.

    TASKPROBE_OUT=/tmp/tasks python benchmarks/taskprobe.py serve ...   # then kill -USR1 <pid>
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from types import FrameType

from tickcast.cli.main import main


def _dump(signum: int, frame: FrameType | None) -> None:
    """Runs in the main thread, between two bytecodes of the loop's callbacks."""
    try:
        count = len(asyncio.all_tasks())
    except RuntimeError:  # no running loop yet
        count = -1
    path = os.environ["TASKPROBE_OUT"]
    with open(path + ".tmp", "w") as handle:
        handle.write(str(count))
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, _dump)
    sys.exit(main())
