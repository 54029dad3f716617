#!/usr/bin/env bash
# What the audit trail costs. Measures, in one run on this machine:
#   1. the audit writer alone (build/auditbench: rows/s committed, 64 and 512 waiting threads);
#   2. AES-GCM encrypt of 64 bytes through hsmgwd (every request audited) and through
#      hsmgwd-noaudit (the same gateway built without a trail), wrk 2 threads, 64 connections.
# Usage: bench/audit.sh CONFIG [SECONDS]   (no gateway may be running on the config's port)
# make build/auditbench build/hsmgwd-noaudit first.
set -euo pipefail
secs=${2:-10}
here=$(cd "$(dirname "$0")" && pwd)
# The same configuration without the lifecycle scheduler, whose first pass at start (due
# rotations and destructions of old keys) would otherwise share the HSM with the measurement,
# and without the SIEM file (a file appended on PostgreSQL's disk slows its fsyncs; put the
# feed on another disk in production).
cfg=$(mktemp --suffix=.json)
jq '.lifecycle.interval_seconds = 0 | del(.audit.siem_file)' "$1" >"$cfg"
bin=${BIN:-$here/../build}
port=$(jq -r '.listen.port // 8080' "$cfg")
url=http://127.0.0.1:$port
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -f "$cfg"; true' EXIT
start() {
  "$1" --config "$cfg" 2>/dev/null &
  pid=$!
  for _ in $(seq 1 100); do curl -fsS "$url/healthz" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "$1 did not start"; exit 1
}
stop() { kill "$pid"; wait "$pid" || true; pid=; }
TOKEN=$("$bin/hsmgwctl" --config "$cfg" token --tenant acme --sub bench --ttl 3600 --scope "keys:write crypto:encrypt")
export TOKEN
start "$bin/hsmgwd"
KEY=$(curl -fsS "$url/v1/keys" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"name\":\"bench-audit-$RANDOM$RANDOM\",\"type\":\"AES\"}" | jq -r .id)
export KEY
echo "== AES-GCM encrypt through hsmgwd, audited"
wrk -t2 -c64 -d"${secs}s" -s "$here/encrypt.lua" "$url" | grep -E 'Requests/sec|Latency'
stop
start "$bin/hsmgwd-noaudit"
echo "== AES-GCM encrypt through hsmgwd-noaudit (no audit trail)"
wrk -t2 -c64 -d"${secs}s" -s "$here/encrypt.lua" "$url" | grep -E 'Requests/sec|Latency'
stop
echo "== the audit writer alone"
"$bin/auditbench" "$cfg" 5 64
"$bin/auditbench" "$cfg" 5 512
