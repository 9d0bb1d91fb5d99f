#!/usr/bin/env bash
# Load benchmark (not a test): batch-1 JSON predictions on the W1 model, side by side with a
# trivial route of the same server, then again while a training job runs; then the draw
# page's call, one drawn digit (PNG) scored by 8 MLPs at once.
# Needs wrk (Debian: apt-get install wrk). Traffic stays on 127.0.0.1.
#   scripts/load-bench.sh [seconds per run, default 10] [connections, default 16]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-16}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
cargo build --release --quiet
tmp=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$tmp"' EXIT

./target/release/nnlab --addr 127.0.0.1:0 --database-url "sqlite://$tmp/bench.db" --demo-model false \
  --request-timeout-secs 60 2> "$tmp/server.log" &
server=$!
for _ in $(seq 100); do grep -q "listening" "$tmp/server.log" && break; sleep 0.1; done
addr=$(grep -o 'addr=[0-9.:]*' "$tmp/server.log" | head -1 | cut -d= -f2)
url="http://$addr"

post() { curl -sf -X POST "$url$1" -H 'content-type: application/json' -d "$2"; }
wait_done() {
  while :; do
    s=$(curl -sf "$url/api/v1/jobs/$1" | python3 -c 'import sys,json; print(json.load(sys.stdin)["status"])')
    [ "$s" = succeeded ] && return 0
    [ "$s" = failed ] || [ "$s" = cancelled ] && { echo "job $1 $s"; exit 1; }
    sleep 0.5
  done
}
echo "training the W1 model..."
job=$(post /api/v1/jobs "$(cat examples/specs/w1.json)" | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
wait_done "$job"
model=$(curl -sf "$url/api/v1/jobs/$job" | python3 -c 'import sys,json; print(json.load(sys.stdin)["result"]["model_id"])')

# One real MNIST test digit as the request body.
python3 - "$tmp/body.json" <<'PY'
import gzip, json, sys
raw = gzip.open("data/mnist/t10k-images-idx3-ubyte.gz").read()[16:16 + 784]
json.dump({"inputs": [[b / 255 for b in raw]]}, open(sys.argv[1], "w"))
PY
cat > "$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$tmp/body.json"); wrk.body = f:read("*a"); f:close()
LUA

run() { # name path [script]
  local out
  if [ -n "${3:-}" ]; then out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$3" "$url$2"); else out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency "$url$2"); fi
  local rps p50 p90 p99 errors
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p90=$(echo "$out" | awk '$1 == "90%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  # Refusals (503 when the heavy-request permits are taken) are fast: count them apart.
  errors=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  printf '| %-34s | %10s | %8s | %8s | %8s | %6s |\n' "$1" "$rps" "$p50" "$p90" "$p99" "${errors:-0}"
  last_rps=$rps
}
# Runs $1 and $2 alternately, three times each, and prints the ratio of their median req/s:
# the machine's drift hits both alike.
ratio() { # name-a path-a name-b path-b script-b
  local a=() b=()
  for _ in 1 2 3; do
    run "$1" "$2"; a+=("$last_rps")
    run "$3" "$4" "$5"; b+=("$last_rps")
  done
  python3 -c 'import sys, statistics as s; n = len(sys.argv) // 2; a, b = sys.argv[1:n + 1], sys.argv[n + 1:]
print(f"median req/s: {s.median(map(float, a)):.0f} vs {s.median(map(float, b)):.0f}, ratio {s.median(map(float, b)) / s.median(map(float, a)):.1%}")' "${a[@]}" "${b[@]}"
}
echo
printf '| %-34s | %10s | %8s | %8s | %8s | %6s |\n' route "req/s" p50 p90 p99 non-2xx
echo "|---|---|---|---|---|---|"
ratio "GET /healthz (trivial)" /healthz "POST predict, batch 1 (W1)" "/api/v1/models/$model/predict" "$tmp/post.lua"
busy=$(post /api/v1/jobs '{"dataset":"mnist","hidden_layers":[256,128],"epochs":50,"validation_split":0}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
sleep 2
run "GET /healthz, while training" /healthz
run "POST predict, while training" "/api/v1/models/$model/predict" "$tmp/post.lua"
curl -sf -X POST "$url/api/v1/jobs/$busy/cancel" > /dev/null

# Seven more MNIST models of various sizes beside W1: the draw page's multi-model view.
ids=("$model")
for h in '[16]' '[32]' '[64]' '[128]' '[64,32]' '[128,64]' '[256]'; do
  j=$(post /api/v1/jobs "{\"dataset\":\"mnist\",\"hidden_layers\":$h,\"epochs\":1,\"train_samples\":5000}" \
      | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
  wait_done "$j"
  ids+=("$(curl -sf "$url/api/v1/jobs/$j" | python3 -c 'import sys,json; print(json.load(sys.stdin)["result"]["model_id"])')")
done
# A test digit drawn 10x larger, dark on white, as the draw page's canvas sends it.
python3 - "$tmp/multi.json" "${ids[@]}" <<'PY'
import base64, gzip, json, struct, sys, zlib
raw = gzip.open("data/mnist/t10k-images-idx3-ubyte.gz").read()[16:16 + 784]
rows = b"".join(b"\0" + bytes(255 - raw[(y // 10) * 28 + x // 10] for x in range(280)) for y in range(280))
chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 280, 280, 8, 0, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
json.dump({"model_ids": sys.argv[2:], "png_base64": base64.b64encode(png).decode()}, open(sys.argv[1], "w"))
PY
sed "s|$tmp/body.json|$tmp/multi.json|" "$tmp/post.lua" > "$tmp/multi.lua"
run "POST predict, 8 models, a PNG" /api/v1/predict "$tmp/multi.lua"
if [ -n "${NNLAB_PROFILE:-}" ]; then
  wrk -t1 -c"$conns" -d8s -s "$tmp/post.lua" "$url/api/v1/models/$model/predict" > /dev/null &
  sleep 1; perf record -g -o "$NNLAB_PROFILE" -p "$server" -- sleep 5 > /dev/null 2>&1; wait
fi
