#!/usr/bin/env bash
# Four validators on this machine under the load tester: the figures of BENCHMARKS.md,
# "Validators: every transaction final, finality with one down". Builds the release
# binary, then runs each case once, in this order, writing each report (text and JSON)
# under $OUT (default: target/bench-validators). About 6 minutes of runs.
#
#   scripts/bench-validators.sh            # every case
#   scripts/bench-validators.sh one-order  # only the cases whose name contains this
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin clobchain
BIN=target/release/clobchain
OUT=${OUT:-target/bench-validators}
mkdir -p "$OUT"
FILTER=${1:-}

common=(--spawn-testnet 4 --node-bin "$BIN" --traders 256 --connections 8
        --duration 20 --warmup 3 --drain 15)

run() {
  local name=$1
  shift
  if [[ -n "$FILTER" && "$name" != *"$FILTER"* ]]; then
    return
  fi
  echo "== $name: clobchain loadtest ${common[*]} $*"
  "$BIN" loadtest "${common[@]}" "$@" --json "$OUT/$name.json" | tee "$OUT/$name.txt"
}

# One order per transaction, 20 k tx/s offered: every acknowledged one accounted for.
run one-order-20k-all-up      --rate 20000 --batch 500 --actions-per-tx 1
run one-order-20k-one-killed  --rate 20000 --batch 500 --actions-per-tx 1 --kill-validator 2
# One order per transaction at 15 k tx/s: submit→final fill latency.
run one-order-15k-all-up      --rate 15000 --batch 500 --actions-per-tx 1
# Eight orders per transaction: 20 k orders/s all up; 8 k all up and with one killed.
run eight-orders-20k-all-up   --rate 20000 --batch 100 --actions-per-tx 8
run eight-orders-8k-all-up    --rate 8000 --batch 100 --actions-per-tx 8
run eight-orders-8k-one-killed --rate 8000 --batch 100 --actions-per-tx 8 --kill-validator 2
