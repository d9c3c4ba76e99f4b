#!/usr/bin/env bash
# build.sh - idempotent set-up for benchmarks/compare.py (and the harness under harness/):
#   * gcc builds the C epoll load client (harness/c/wsload) and the C reference server
#     (harness/c/refserver) from source: no binaries are committed;
#   * harness/.venv gets the Python peers (picows, websockets, python-socketio, ...) pinned in
#     harness/requirements.txt. Node peers are optional: `harness/setup.sh` installs them.
set -euo pipefail
cd "$(dirname "$0")/harness"
for b in wsload refserver; do
  if [ ! -x "c/$b" ] || [ "c/$b.c" -nt "c/$b" ] || [ c/wsutil.h -nt "c/$b" ]; then
    gcc -O2 -Wall -Wextra -o "c/$b" "c/$b.c"
  fi
done
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import websockets, uvloop, socketio, uvicorn, picows' 2>/dev/null; then
  .venv/bin/pip install -q -r requirements.txt
fi
echo "build ok: $(c/wsload --help 2>&1 | head -1 | cut -c1-40)..., peers venv: $(.venv/bin/python -c 'import picows, websockets; print("picows", picows.__version__, "websockets", websockets.__version__)' 2>/dev/null || echo '?')"
