#!/usr/bin/env bash
# Cross-checks nnlab against standard Python tooling (run by CI):
#   check_tritonclient.py       NVIDIA's tritonclient speaks the Open Inference Protocol to /v2
#   check_safetensors_numpy.py  a numpy forward pass from the downloaded safetensors matches /predict
# Starts its own server on a free port with a temporary database, trains small models through
# the API (XOR/tanh, tiny MNIST/relu, spiral/sigmoid+batch norm, circle/maxout), runs both
# checks, and ends with "python checks: P passed, F failed"; exits non-zero on any failure.
#
# Environment: NNLAB_PY_VENV  a venv to (re)use instead of a temporary one
#              NNLAB_BIN      the binary to run (default: target/debug/nnlab, built if needed)
#              PYTHON         the interpreter that creates the venv (default: python3)
# Needs network access to PyPI only (for the pinned packages below), unless the venv has them.
set -euo pipefail

TRITONCLIENT_VERSION=2.73.0
NUMPY_VERSION=2.4.6
SAFETENSORS_VERSION=0.8.0
SERVER_START_SECONDS=60
TRAIN_SECONDS=300

cd "$(dirname "$0")/.."
root=$PWD
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nnlab-pychecks.XXXXXX")
server_pid=""

cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

setup_failed() {
    echo "python checks: setup failed: $*" >&2
    if [[ -s $tmp/server.log ]]; then
        echo "--- server log (last 20 lines) ---" >&2
        tail -n 20 "$tmp/server.log" >&2
    fi
    echo "python checks: 0 passed, 2 failed"
    exit 1
}

# --- Python environment -------------------------------------------------------------------
venv=${NNLAB_PY_VENV:-$tmp/venv}
if [[ ! -x $venv/bin/python ]]; then
    "${PYTHON:-python3}" -m venv "$venv" || setup_failed "cannot create a venv at $venv"
fi
py=$venv/bin/python
"$py" -m pip install --quiet --disable-pip-version-check \
    "tritonclient[http]==$TRITONCLIENT_VERSION" "numpy==$NUMPY_VERSION" "safetensors==$SAFETENSORS_VERSION" \
    || setup_failed "pip install failed"

# --- Server -------------------------------------------------------------------------------
bin=${NNLAB_BIN:-$root/target/debug/nnlab}
if [[ -z ${NNLAB_BIN:-} ]]; then
    cargo build --quiet --bin nnlab || setup_failed "cargo build failed"
fi
[[ -x $bin ]] || setup_failed "no binary at $bin"

NO_COLOR=1 "$bin" --addr 127.0.0.1:0 --database-url "sqlite://$tmp/x.db" --demo-model false \
    --data-dir "$root/data" --workers 1 >"$tmp/server.log" 2>&1 &
server_pid=$!

# The log line is `... nnlab listening addr=127.0.0.1:PORT` (colour codes stripped); the
# logs go to stdout today though the README says stderr, so both are captured.
port=""
deadline=$((SECONDS + SERVER_START_SECONDS))
while [[ -z $port ]]; do
    kill -0 "$server_pid" 2>/dev/null || setup_failed "the server exited"
    ((SECONDS < deadline)) || setup_failed "the server did not listen within ${SERVER_START_SECONDS}s"
    port=$(sed 's/\x1b\[[0-9;]*m//g' "$tmp/server.log" | sed -n 's/.*nnlab listening addr=[^ ]*:\([0-9][0-9]*\).*/\1/p' | head -n 1)
    [[ -n $port ]] || sleep 0.1
done
url=http://127.0.0.1:$port
echo "nnlab at $url (pid $server_pid)"

# --- Models -------------------------------------------------------------------------------
json_field() { "$py" -c 'import json, sys; v = json.load(sys.stdin); print(eval("v" + sys.argv[1]))' "$1"; }

# Both set REPLY rather than print, so that setup_failed runs in this shell, not a subshell.
submit() {
    local body
    body=$(curl -sS --fail-with-body --max-time 30 -X POST "$url/api/v1/jobs" \
        -H 'content-type: application/json' -d "$1") || setup_failed "submitting $1: $body"
    REPLY=$(json_field '["id"]' <<<"$body") || setup_failed "no job id in $body"
}

# The job's model id once it succeeded; fails on failure or at the deadline.
wait_model() {
    local job=$1 body status
    while true; do
        body=$(curl -sS --fail-with-body --max-time 30 "$url/api/v1/jobs/$job") || setup_failed "polling $job: $body"
        status=$(json_field '["status"]' <<<"$body") || setup_failed "no status in $body"
        case $status in
            succeeded)
                REPLY=$(json_field '["result"]["model_id"]' <<<"$body") || setup_failed "no model in $body"
                return
                ;;
            failed | cancelled) setup_failed "job $job $status: $body" ;;
        esac
        ((SECONDS < train_deadline)) || setup_failed "job $job not done within ${TRAIN_SECONDS}s: $body"
        sleep 0.2
    done
}

jobs=(
    '{"dataset":"xor","hidden_layers":[8],"activation":"tanh","init":"xavier","learning_rate":0.05,"batch_size":4,"epochs":300,"validation_split":0,"seed":7}'
    '{"dataset":"mnist","hidden_layers":[32],"activation":"relu","epochs":1,"train_samples":2000,"seed":1}'
    '{"dataset":"spiral","hidden_layers":[16,16],"activation":"sigmoid","batch_norm":true,"epochs":3,"seed":2}'
    '{"dataset":"circle","hidden_layers":[8],"activation":"maxout","maxout_pieces":3,"epochs":3,"seed":3}'
)
job_ids=()
for spec in "${jobs[@]}"; do
    submit "$spec"
    job_ids+=("$REPLY")
done
train_deadline=$((SECONDS + TRAIN_SECONDS))
models=()
for job in "${job_ids[@]}"; do
    wait_model "$job"
    models+=("$REPLY")
done
xor=${models[0]}
echo "models: ${models[*]} (XOR: $xor)"

# --- Checks -------------------------------------------------------------------------------
passed=0
failed=0
run_check() {
    local name=$1
    shift
    echo "== $name"
    if "$py" "$@"; then
        passed=$((passed + 1))
    else
        echo "FAILED: $name" >&2
        failed=$((failed + 1))
    fi
}

others=()
for m in "${models[@]:1}"; do others+=(--model "$m"); done
run_check tritonclient "$root/scripts/check_tritonclient.py" --url "$url" --xor-model "$xor" "${others[@]}"
run_check safetensors-numpy "$root/scripts/check_safetensors_numpy.py" --url "$url" --xor-model "$xor" \
    --model "$xor" "${others[@]}"

echo "python checks: $passed passed, $failed failed"
((failed == 0))
