#!/usr/bin/env bash
# Runs W1/W2 for nnlab and the anchor frameworks side by side, in one session, so the ratios
# mean something on a noisy machine. Needs the anchors' bench scripts (set BENCH_DIR) and their virtualenv
# (`bash $BENCH_DIR/setup.sh`, default /tmp/anchors-venv; set VENV). Not used by the tests.
#   scripts/bench-side-by-side.sh [threads...]     (default: 2 1)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:?set BENCH_DIR to the directory of the anchors bench scripts (bench_numpy.py, bench_jax.py, setup.sh)}
VENV=${VENV:-/tmp/anchors-venv}
OUT=${BENCH_OUT:-/tmp/nnlab-bench}
mkdir -p "$OUT"
cargo build --release --quiet
threads_list=${*:-2 1}
for t in $threads_list; do
  cpus=$(seq -s, 0 $((t - 1)))
  for fw in jax numpy; do
    echo "== $fw, $t thread(s)"
    # OPENBLAS_CORETYPE/L2_SIZE slow a current numpy down (see the env notes): unset for the run.
    (cd "$BENCH_DIR" && env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE BENCH_OUT="$OUT" \
      "$VENV/bin/python" "bench_$fw.py" --threads "$t" 2>/dev/null | grep -E '"(median_epoch_s|test_acc|batch1_us|median_us|samples_per_s)"' || true)
  done
  echo "== nnlab, $t thread(s)"
  taskset -c "$cpus" ./target/release/nnlab bench --threads "$t" 2>/dev/null | tee "$OUT/nnlab_t$t.txt" | grep '^|'
done
