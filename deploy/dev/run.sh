#!/usr/bin/env bash
# `make run`: prepares VAR (reusing what exists), starts hsmgwd in the foreground, prints a
# token and a curl tour. Ctrl-C stops the gateway and PostgreSQL.
set -euo pipefail
VAR=$1 PORT=$2 BIN=$3
here=$(cd "$(dirname "$0")" && pwd)

echo "hsmgw: preparing $VAR (SoftHSM token, PostgreSQL, configuration, migrations)"
"$here/env.sh" up "$VAR" "$PORT" "$BIN"

daemon=
stop() {
  trap - INT TERM EXIT
  [ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
  "$here/env.sh" down "$VAR"
  echo "hsmgw: stopped"
}
trap stop INT TERM EXIT

"$BIN/hsmgwd" --config "$VAR/hsmgw.json" &
daemon=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$daemon" 2>/dev/null || { echo "hsmgw: hsmgwd exited; see the lines above" >&2; exit 1; }
  sleep 0.1
done

TOKEN=$("$BIN/hsmgwctl" --config "$VAR/hsmgw.json" token --tenant acme --sub dev@acme --ttl 86400 \
  --scope "keys:read keys:write crypto:encrypt crypto:decrypt")
URL=http://127.0.0.1:$PORT
cat <<TOUR

hsmgw is listening on $URL (tenant acme; token valid for 24 h). Try:

  export TOKEN='$TOKEN'
  curl -s -X POST $URL/v1/keys -H "Authorization: Bearer \$TOKEN" \\
       -H 'Content-Type: application/json' -d '{"name":"orders","type":"AES","size":256}'
  curl -s -X POST $URL/v1/keys/orders/encrypt -H "Authorization: Bearer \$TOKEN" \\
       -H 'Content-Type: application/json' -d '{"plaintext":"aGVsbG8gd29ybGQ="}'
  curl -s -X POST $URL/v1/keys/orders/decrypt -H "Authorization: Bearer \$TOKEN" \\
       -H 'Content-Type: application/json' -d '{"ciphertext":"<the ciphertext from above>"}'
  curl -s $URL/v1/keys -H "Authorization: Bearer \$TOKEN"
  curl -s $URL/readyz

More tokens: $BIN/hsmgwctl --config $VAR/hsmgw.json token --tenant globex --scope "keys:read"
Press Ctrl-C to stop.
TOUR
wait "$daemon"
