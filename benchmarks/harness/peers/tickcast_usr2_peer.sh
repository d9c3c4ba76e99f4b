#!/usr/bin/env bash
# tickcast as a peer that, like the other peers, starts publishing on SIGUSR2 (so the harness
# samples idle-connection memory first) and prints its publisher counters on SIGHUP.
# Args: --port P --rate R (0 = max) [--mode ws|sio]. $TICKCAST names the tickcast binary.
# Not part of the team harness: added by the tickcast perf work (benchmarks/README.md).
set -u
port=$2 rate=$4 mode=${6:-ws}
[ "$rate" = 0 ] && rate=max
d=$(mktemp -d)
cat > "$d/bench.toml" <<TOML
[server]
log_level = "warning"
TOML
key=$("${TICKCAST:-tickcast}" keys create --data-dir "$d" --user bench --plan pro) || exit 1
if [ "$mode" = sio ]; then
  echo "/socket.io/?EIO=4&transport=websocket" > "${TMPDIR:-/tmp}/bench-path-${port}"
  echo "{\"apiKey\":\"${key}\"}" > "${TMPDIR:-/tmp}/bench-sio-auth-${port}"
  source="bench:rate=${rate},start=usr2,tickers=1"
else
  echo "/api/v1/ws?api_key=${key}&streams=trades:bench-btc-usd-spot" > "${TMPDIR:-/tmp}/bench-path-${port}"
  source="bench:rate=${rate},start=usr2"
fi
exec "${TICKCAST:-tickcast}" serve --config "$d/bench.toml" --host 127.0.0.1 --port "$port" \
  --data-dir "$d" --source "$source"
