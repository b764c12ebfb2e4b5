#!/usr/bin/env bash
# The served OpenAPI document against the server that serves it: schemathesis (pinned in
# scripts/requirements-schemathesis.txt) generates requests from /openapi.json, valid and
# invalid, for every operation, and checks every answer:
#   - no 5xx (not_a_server_error);
#   - statuses, content types, headers and bodies as documented (*_conformance);
#   - no schema-invalid request accepted (negative_data_rejection);
#   - no schema-valid request refused for its shape (positive_data_acceptance: a 400
#     for a request the schema allows fails; 401/404/409/422/429/503 are refusals of
#     what the request means, not of its shape, and are expected).
#
# GET /v1/ws is left out: it is a websocket upgrade, not an HTTP exchange (a request with
# the upgrade headers turns the connection into a websocket under the fuzzer's HTTP
# client); tests/it/node*.rs drive the websocket.
#
# Usage: scripts/schemathesis.sh [SECONDS]   (time budget of the generation, default 120)
# It builds the node with the test profile (what `cargo test` already built), starts a
# dev chain on a free port in a temporary directory, runs schemathesis, and stops it.
# Reports land in <target>/schemathesis/ (junit and ndjson).
set -euo pipefail
cd "$(dirname "$0")/.."
budget="${1:-120}"

target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
venv="$target_dir/venv-schemathesis"
if [ ! -x "$venv/bin/schemathesis" ]; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian's python3 ships venv separately.
    if [ "$(id -u)" = 0 ]; then
      apt-get install -y -q python3-venv >/dev/null
    else
      sudo apt-get install -y -q python3-venv >/dev/null
    fi
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-schemathesis.txt
fi

cargo build --locked --profile test --bin clobchain
bin="$target_dir/debug/clobchain"
data=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" node --data "$data" --listen "127.0.0.1:$port" >"$data/node.log" 2>&1 &
node=$!
cleanup() {
  kill "$node" 2>/dev/null || true
  wait "$node" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/v1/health" >/dev/null && break
  sleep 0.1
done

reports="$target_dir/schemathesis"
mkdir -p "$reports"
config="$PWD/scripts/schemathesis.toml"
# schemathesis keeps its cache (.schemathesis/) in the working directory: the reports'.
cd "$reports"
"$venv/bin/schemathesis" --config-file "$config" \
  run "http://127.0.0.1:$port/openapi.json" \
  --checks all \
  --exclude-path /v1/ws \
  --max-time "$budget" \
  --workers 2 \
  --seed 17 \
  --report junit,ndjson --report-dir "$reports"
