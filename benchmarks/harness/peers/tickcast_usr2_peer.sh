#!/usr/bin/env bash
# tickcast as a peer that, like the other peers, starts publishing on SIGUSR2 (so the harness
# samples idle-connection memory first) and prints its publisher counters on SIGHUP.
# Args: --port P --rate R (0 = max) [--mode ws|sio]. $TICKCAST names the tickcast binary.
# Not part of the team harness: added by the tickcast perf work (benchmarks/README.md).
# publish_stamps puts the publish time t_ns last in every message (the load client's latency).
set -u
port=$2 rate=$4 mode=${6:-ws}
[ "$rate" = 0 ] && rate=max
d=$(mktemp -d)
cat > "$d/bench.toml" <<TOML
[server]
log_level = "warning"
publish_stamps = true
TOML
# the bench plan: one key may open the harness's thousands of connections (docs/performance.md)
key=$("${TICKCAST:-tickcast}" keys create --config "$d/bench.toml" --data-dir "$d" --user bench \
  --plan bench) || exit 1
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
