#!/usr/bin/env bash
# `make bench` and `make bench-soak`: hsmgw's figures next to the ceilings they are bounded by,
# measured in one run on this machine, with the load generators on loopback:
#   1. raw ceilings: the same PKCS#11 operations in-process on SoftHSM with 1 and 2 threads
#      (build/p11bench), and libmicrohttpd alone with the gateway's options (build/baremhd);
#   2. hsmgw end to end (audit on, real JWTs): AES-GCM encrypt and decrypt of 64 bytes,
#      HMAC-SHA256, ECDSA P-256 sign, RSA-2048 sign, tokenization of one PAN;
#   3. throughput at saturation: wrk -t2 -c$BENCH_CONNECTIONS for $BENCH_SECONDS per route;
#   4. latency P50/P99/P99.9 at fixed offered loads ($BENCH_RATES req/s) with build/loadgen,
#      open loop, measured from each request's scheduled send time;
#   5. ratios to the ceilings, targets (met/missed, never a failure), hsmgwd's peak and
#      current RSS; with BENCH_SOAK=SECONDS, encrypt at $BENCH_SOAK_RATE req/s for that long
#      with hsmgwd's RSS sampled every 10 s.
# Everything runs in a private environment (deploy/dev/env.sh) in a temporary directory that
# is stopped and removed at the end, whatever happens. Prints one table and writes it as JSON
# to bench/results/<UTC time>.json.
#
# Settings (environment): BIN (build), BENCH_SECONDS (10), BENCH_P11_SECONDS (BENCH_SECONDS),
# BENCH_CONNECTIONS (64), BENCH_RATES ("1000 5000"), BENCH_DRAIN (5: seconds an overloaded
# gateway gets to answer after a fixed-rate schedule ends), BENCH_SOAK (0), BENCH_SOAK_RATE (2000).
set -euo pipefail
root=$(pwd)
here=$root/bench
bin=$(realpath "${BIN:-build}")
secs=${BENCH_SECONDS:-10}
p11secs=${BENCH_P11_SECONDS:-$secs}
conns=${BENCH_CONNECTIONS:-64}
read -r -a rates <<<"${BENCH_RATES:-1000 5000}"
drain=${BENCH_DRAIN:-5}
soak=${BENCH_SOAK:-0}
soak_rate=${BENCH_SOAK_RATE:-2000}

for b in hsmgwd hsmgwctl p11bench baremhd loadgen; do
  [ -x "$bin/$b" ] || { echo "bench: $bin/$b is missing (make bench builds it)"; exit 1; }
done
# wrk is the one tool `make test`'s set-up does not install.
if ! command -v wrk >/dev/null 2>&1; then
  echo "bench: installing wrk"
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi

T=$(mktemp -d /tmp/hsmgw-bench.XXXXXX)
chmod 755 "$T"
VAR=$T/var
gw= bare= lg=
cleanup() {
  set +e # every step runs, whatever failed before (a killed child's wait status included)
  local p
  for p in $lg $gw $bare; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  "$root/deploy/dev/env.sh" down "$VAR" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000))
}
PORT=$(free_port)
BPORT=$(free_port)
[ "$BPORT" != "$PORT" ] || BPORT=$((PORT + 1))
url=http://127.0.0.1:$PORT
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)

echo "== environment in $T (gateway port $PORT, bare libmicrohttpd port $BPORT)"
"$root/deploy/dev/env.sh" up "$VAR" "$PORT" "$bin" >"$T/env.log" 2>&1 ||
  { cat "$T/env.log"; echo "bench: environment set-up failed"; exit 1; }
# As bench/audit.sh: no lifecycle pass sharing the HSM with the measurement, no SIEM file.
cfg=$T/bench.json
jq '.lifecycle.interval_seconds = 0 | del(.audit.siem_file)' "$VAR/hsmgw.json" >"$cfg"
threads=$(jq -r '.http.threads // 64' "$cfg")

# wrk at saturation: prints {"rps":…,"non_2xx":…,"socket_errors":…}. Script env must be set.
wrk_json() { # script url
  local out
  out=$(wrk -t2 -c"$conns" -d"${secs}s" -s "$here/$1" "$2")
  awk '/^Requests\/sec:/ {rps = $2}
       /Non-2xx or 3xx responses:/ {bad = $NF}
       /Socket errors:/ {gsub(/,/, ""); err = $4 + $6 + $8 + $10}
       END {printf "{\"rps\":%.1f,\"non_2xx\":%d,\"socket_errors\":%d}\n", rps, bad, err}' <<<"$out"
}

# loadgen at each rate: prints {"1000":{…},"5000":{…}}. Args after the URL go to loadgen.
lat_json() { # url loadgen-args...
  local u=$1 r sep="" out="{"
  shift
  for r in "${rates[@]}"; do
    out+="$sep\"$r\":$("$bin/loadgen" --json -r "$r" -t "$secs" -c "$conns" -w "$drain" "$@" "$u")"
    sep=,
    sleep 1 # let a gateway left with queued work settle
  done
  echo "$out}"
}

echo "== 1. raw ceilings: PKCS#11 in-process (${p11secs}s per operation and thread count)"
"$bin/p11bench" --json "$cfg" "$p11secs" >"$T/p11.json" 2>"$T/p11.log" ||
  { cat "$T/p11.log"; echo "bench: p11bench failed"; exit 1; }

echo "== 1. raw ceilings: bare libmicrohttpd, $threads threads"
"$bin/baremhd" "$BPORT" "$threads" &
bare=$!
for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://127.0.0.1:$BPORT/" 2>/dev/null && break; sleep 0.1; done
bare_body='{"plaintext":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg=="}'
bare_wrk=$(KEY=bare TOKEN=bare wrk_json encrypt.lua "http://127.0.0.1:$BPORT")
bare_lat=$(lat_json "http://127.0.0.1:$BPORT/v1/keys/bare/encrypt" -H "Authorization: Bearer bare" \
  -H "Content-Type: application/json" -d "$bare_body")
kill "$bare" && wait "$bare" 2>/dev/null || true
bare=

echo "== 2. hsmgwd"
"$bin/hsmgwd" --config "$cfg" 2>"$T/hsmgwd.log" &
gw=$!
up=0
for _ in $(seq 1 300); do
  curl -fsS -o /dev/null "$url/healthz" 2>/dev/null && { up=1; break; }
  kill -0 "$gw" 2>/dev/null || break
  sleep 0.1
done
[ $up = 1 ] || { tail -n 20 "$T/hsmgwd.log"; echo "bench: hsmgwd did not start"; exit 1; }
TOKEN=$("$bin/hsmgwctl" --config "$cfg" token --tenant acme --sub bench --ttl 3600 \
  --scope "keys:read keys:write crypto:encrypt crypto:decrypt crypto:sign crypto:mac tokens:tokenize")
export TOKEN
H=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
api() { curl -fsS "$url$1" "${H[@]}" -d "$2"; }
mkkey() { api /v1/keys "$1" | jq -er .name; }
aes=$(mkkey '{"name":"bench-aes","type":"AES"}')
hmac=$(mkkey '{"name":"bench-hmac","type":"HMAC"}')
ec=$(mkkey '{"name":"bench-ec","type":"EC","curve":"P-256"}')
rsa=$(mkkey '{"name":"bench-rsa","type":"RSA","size":2048,"usage":["sign","verify"]}')
tok=$(mkkey '{"name":"bench-tok","type":"AES","usage":["tokenize"]}')
msg=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg==
CIPHERTEXT=$(api "/v1/keys/$aes/encrypt" "{\"plaintext\":\"$msg\"}" | jq -er .ciphertext)
export CIPHERTEXT

# id | name | p11bench op | wrk script | KEY | path | body (as the wrk script sends it)
routes=(
  "encrypt|AES-GCM encrypt 64 B|encrypt|encrypt.lua|$aes|/v1/keys/$aes/encrypt|{\"plaintext\":\"$msg\"}"
  "decrypt|AES-GCM decrypt 64 B|decrypt|decrypt.lua|$aes|/v1/keys/$aes/decrypt|{\"ciphertext\":\"$CIPHERTEXT\"}"
  "mac|HMAC-SHA256 64 B|mac|mac.lua|$hmac|/v1/keys/$hmac/mac|{\"message\":\"$msg\"}"
  "sign_ecdsa|ECDSA P-256 sign|sign_ecdsa|sign.lua|$ec|/v1/keys/$ec/sign|{\"message\":\"$msg\"}"
  "sign_rsa|RSA-2048 PSS sign|sign_rsa|sign.lua|$rsa|/v1/keys/$rsa/sign|{\"message\":\"$msg\"}"
  "tokenize|FF1 tokenize 1 PAN|tokenize|tokenize.lua|$tok|/v1/tokens/tokenize|{\"key\":\"$tok\",\"values\":[\"4111111111111111\"],\"luhn\":true}"
)
# Every route answers 200 before it is measured.
for r in "${routes[@]}"; do
  IFS='|' read -r id _ _ _ _ path body <<<"$r"
  api "$path" "$body" >/dev/null || { echo "bench: $id ($path) does not answer 200"; exit 1; }
done

: >"$T/routes.jsonl"
for r in "${routes[@]}"; do
  IFS='|' read -r id name op script key path body <<<"$r"
  echo "== 3./4. $name: wrk ${secs}s, then ${rates[*]} req/s"
  w=$(KEY=$key wrk_json "$script" "$url")
  l=$(lat_json "$url$path" "${H[@]}" -d "$body")
  jq -nc --arg id "$id" --arg name "$name" --arg op "$op" --arg path "$path" --argjson wrk "$w" --argjson lat "$l" \
    '{id: $id, name: $name, p11_op: $op, path: $path, wrk: $wrk, latency: $lat}' >>"$T/routes.jsonl"
  sleep 1
done

kill -0 "$gw" 2>/dev/null || { tail -n 20 "$T/hsmgwd.log"; echo "bench: hsmgwd died during the run"; exit 1; }
kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$gw/status" 2>/dev/null; }
# The kernel updates VmHWM lazily (on unmaps, not on every page fault), so it can trail a
# VmRSS read earlier: the peak is the larger of it and every RSS read.
peak=0
note_rss() { # false once the process is gone
  local r h
  r=$(kib VmRSS) && h=$(kib VmHWM) && [ -n "$r" ] && [ -n "$h" ] || return 1
  rss=$r
  [ "$h" -gt "$peak" ] && peak=$h
  [ "$rss" -gt "$peak" ] && peak=$rss
  return 0
}
note_rss

soak_json=null
if [ "$soak" -gt 0 ]; then
  echo "== soak: encrypt at $soak_rate req/s for ${soak}s, hsmgwd's RSS every 10 s"
  "$bin/loadgen" --json -r "$soak_rate" -t "$soak" -c "$conns" -w "$drain" "${H[@]}" \
    -d "{\"plaintext\":\"$msg\"}" "$url/v1/keys/$aes/encrypt" >"$T/soak.json" &
  lg=$!
  : >"$T/soak.samples"
  t=0 died=null gw_status=null
  while kill -0 "$lg" 2>/dev/null; do
    note_rss || { died=$t; break; }
    printf '%s %s\n' "$t" "$rss" | tee -a "$T/soak.samples" | awk '{printf "   %4d s  %7.1f MiB\n", $1, $2 / 1024}'
    sleep 10
    t=$((t + 10))
  done
  if [ "$died" = null ]; then
    wait "$lg" || true
    lg=
    if note_rss; then printf '%s %s\n' "$t" "$rss" >>"$T/soak.samples"; else died=$t; fi
  fi
  if [ "$died" != null ]; then
    # The gateway died: say so, keep its last words, and still write what was measured.
    kill "$lg" 2>/dev/null; wait "$lg" 2>/dev/null || true
    lg=
    wait "$gw" 2>/dev/null && gw_status=0 || gw_status=$?
    gw=
    echo "bench: hsmgwd DIED during the soak, within 10 s before ${died} s (exit status $gw_status); its last log lines:"
    tail -n 20 "$T/hsmgwd.log"
  fi
  # Flat: after the first minute (the pools, caches and allocator arenas fill up during it),
  # RSS never rises more than max(4 MiB, 5%) above the sample taken at 60 s (or the second
  # sample, for a shorter soak).
  soak_json=$(jq -Rn --argjson rate "$soak_rate" --argjson secs "$soak" --slurpfile lg "$T/soak.json" \
    --argjson died "$died" --argjson status "$gw_status" '
    [inputs | split(" ") | {t: (.[0] | tonumber), rss_kib: (.[1] | tonumber)}] as $s
    | ([$s[] | select(.t >= 60)][0] // $s[1] // $s[0] // {t: 0, rss_kib: 0}) as $base
    | ([$s[] | select(.t >= $base.t) | .rss_kib] | max // 0) as $max
    | {rate: $rate, seconds: $secs, samples: $s, baseline_t: $base.t, baseline_kib: $base.rss_kib, max_after_baseline_kib: $max,
       growth_kib: ($max - $base.rss_kib),
       flat: ($died == null and ($max - $base.rss_kib) <= ([4096, $base.rss_kib * 0.05] | max)),
       hsmgwd_died_by_seconds: $died, hsmgwd_exit_status: $status, loadgen: $lg[0]}' <"$T/soak.samples")
fi

if [ -n "$gw" ]; then
  kill "$gw" && wait "$gw" 2>/dev/null || true
  gw=
fi

# ---- the result, as JSON, then as the table ----
mkdir -p "$here/results"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=$here/results/$stamp.json
jq -n --slurpfile p11 "$T/p11.json" --slurpfile routes "$T/routes.jsonl" \
  --argjson bare_wrk "$bare_wrk" --argjson bare_lat "$bare_lat" --argjson soak "$soak_json" \
  --argjson peak "$peak" --argjson rss "$rss" --arg started "$started" --arg commit "$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  --arg dirty "$(git status --porcelain -- src include Makefile 2>/dev/null | wc -l)" \
  --arg cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" --argjson ncpu "$(nproc)" \
  --argjson secs "$secs" --argjson p11secs "$p11secs" --argjson conns "$conns" --argjson threads "$threads" \
  --argjson rates "$(printf '%s\n' "${rates[@]}" | jq -s .)" --argjson drain "$drain" \
  --argjson sessions "$(jq '.hsm.sessions // 8' "$cfg")" --argjson dbpool "$(jq '.database.pool_size // 8' "$cfg")" '
  def ratio(a; b): if (b // 0) > 0 then ((a / b) * 1000 | round) / 1000 else null end;
  $p11[0].ops as $raw
  | ([$raw.encrypt.threads_2, $bare_wrk.rps] | min) as $lower
  | [$routes[] | . + {raw: $raw[.p11_op],
                      ratio_to_raw_2_threads: ratio(.wrk.rps; $raw[.p11_op].threads_2)}
               | if .id == "encrypt" then . + {lower_ceiling: $lower, ratio_to_lower_ceiling: ratio(.wrk.rps; $lower)} else . end] as $r
  | ($r | map({key: .id, value: .}) | from_entries) as $by
  | ($rates | map(tostring) | max_by(tonumber)) as $top
  | {
      started: $started, commit: $commit, uncommitted_files_in_src_include_makefile: ($dirty | tonumber),
      machine: {cpu: $cpu, cpus: $ncpu},
      settings: {seconds: $secs, p11_seconds: $p11secs, wrk: "-t2 -c\($conns)", loadgen_connections: $conns,
                 rates: $rates, drain_seconds: $drain, http_threads: $threads, hsm_sessions: $sessions,
                 database_pool_size: $dbpool, audit: true, siem_file: false, lifecycle_interval_seconds: 0},
      raw_p11: $raw,
      bare_mhd: {wrk: $bare_wrk, latency: $bare_lat},
      routes: $r,
      hsmgwd: {peak_rss_kib: $peak, vm_rss_kib: $rss},
      targets: [
        {what: "AES-GCM encrypt >= 20,000 req/s", figure: $by.encrypt.wrk.rps, target: 20000,
         met: ($by.encrypt.wrk.rps >= 20000)},
        {what: "AES-GCM encrypt >= 0.35 x lower raw ceiling", figure: $by.encrypt.ratio_to_lower_ceiling, target: 0.35,
         met: (($by.encrypt.ratio_to_lower_ceiling // 0) >= 0.35)},
        {what: "ECDSA P-256 sign >= 0.8 x raw (2 threads)", figure: $by.sign_ecdsa.ratio_to_raw_2_threads, target: 0.8,
         met: (($by.sign_ecdsa.ratio_to_raw_2_threads // 0) >= 0.8)},
        {what: "RSA-2048 sign >= 0.9 x raw (2 threads)", figure: $by.sign_rsa.ratio_to_raw_2_threads, target: 0.9,
         met: (($by.sign_rsa.ratio_to_raw_2_threads // 0) >= 0.9)},
        {what: "encrypt P99 <= 5 ms at \($top) req/s", figure: $by.encrypt.latency[$top].p99_ms, target: 5,
         met: ($by.encrypt.latency[$top].p99_ms <= 5 and $by.encrypt.latency[$top].incomplete == 0)},
        {what: "ECDSA sign P99 <= 10 ms at \($top) req/s", figure: $by.sign_ecdsa.latency[$top].p99_ms, target: 10,
         met: ($by.sign_ecdsa.latency[$top].p99_ms <= 10 and $by.sign_ecdsa.latency[$top].incomplete == 0)},
        {what: "hsmgwd peak RSS <= 128 MiB", figure: (($peak / 1024 * 10 | round) / 10), target: 128,
         met: ($peak <= 131072)}
      ],
      soak: $soak
    }' >"$out"

"$here/table.sh" "$out"
echo "written to ${out#"$root"/}"
[ "$soak" -eq 0 ] || [ "$(jq -r .soak.hsmgwd_died_by_seconds "$out")" = null ] # a crash fails the run
