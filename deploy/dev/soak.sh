#!/usr/bin/env bash
# `make soak` (issue 9): SOAK_SECONDS (default 600) of bounded loopback load against the
# sanitized daemon, while faults are injected at random, in a private environment in a
# temporary directory (removed at the end unless SOAK_KEEP=1):
#   - HSM faults through the fault-injecting PKCS#11 module (tests/faultp11): every 10-20 s a
#     new rule set, or none (device errors, lost sessions and logins, hangs past the deadline);
#   - PostgreSQL stopped for 2-6 s (env.sh pg-stop / pg-start), about every 75 s;
#   - kill -9 of the daemon and a restart, about every 90 s (the restart reconciles; the HSM
#     faults are held back while a daemon starts, and come back once it serves).
# Load: SOAK_RATE requests/s (default 40) over SOAK_THREADS keep-alive connections (default 4),
# by tests/soak/soakload, which writes one line per request (id, status, operation, time).
# At the end: SIGTERM (exit 0 expected, LeakSanitizer runs), then every request id answered 2xx
# is looked up in the audit trail (zero missing expected), the trail is verified (hsmgwctl
# audit verify), and the daemons' logs are searched for sanitizer reports. Prints a summary,
# also kept in bench/results/soak-<UTC time>.txt. Exit status 0 only if all of that holds.
#
#   soak.sh DAEMON_BUILD_DIR TOOLS_BUILD_DIR
# The daemon comes from the first (the sanitized build); hsmgwctl, soakload and libfaultp11.so
# from the second (a normal build: the tools' own leaks at exit are not what is checked).
set -uo pipefail
root=$(pwd)
here=$root/deploy/dev
B=$1
TB=$2
LOAD=$(realpath "$TB/soakload")
SECONDS_TOTAL=${SOAK_SECONDS:-600}
RATE=${SOAK_RATE:-40}
THREADS=${SOAK_THREADS:-4}

T=$(mktemp -d /tmp/hsmgw-soak.XXXXXX)
chmod 755 "$T"
VAR=$T/var
daemon=
loadpid=
cleanup() {
  [ -n "$loadpid" ] && kill "$loadpid" 2>/dev/null
  [ -n "$daemon" ] && kill -KILL "$daemon" 2>/dev/null
  "$here/env.sh" down "$VAR" >/dev/null 2>&1
  [ "${SOAK_KEEP:-0}" = 1 ] && echo "soak: kept $T" || rm -rf "$T"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
       echo $((20000 + RANDOM % 20000)))
# The fault-injecting module, when this tree has it; otherwise the HSM faults are left out (and
# the summary says so): PostgreSQL restarts and kill -9 cycles still run.
faults=
if [ -f "$TB/libfaultp11.so" ] && grep -q 'faults' "$here/env.sh"; then faults=faults; fi
"$here/env.sh" up "$VAR" "$PORT" "$TB" $faults >/dev/null || { echo "soak: environment set-up failed"; exit 1; }
CFG=$VAR/hsmgw.json
CTL=$VAR/hsm/faults.ctl
# No SIEM file: it would only grow; a slower HSM deadline for the sanitized build.
jq '.audit.siem_file = null | del(.audit.siem_file) | .hsm.operation_timeout_ms = 2000' "$CFG" >"$T/c.json" &&
  mv "$T/c.json" "$CFG"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:exitcode=23:fast_unwind_on_malloc=0
export LSAN_OPTIONS=suppressions=$root/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

starts=0 kills=0 crashes=0 refused=0 pg_restarts=0 fault_sets=0
log() { echo "soak: $(date -u +%H:%M:%S) $*"; }

# Starts the daemon as a supervisor would, with the HSM faults held back until it serves: each
# new process would meet the rules afresh (count= is per process), and a daemon refuses to start
# on an HSM that fails at start (that is the HSM fault tests' matter, not the soak's). A start
# refused all the same (exit status 1 and a "start:" reason) is tried again, up to 3 times; a
# start that ends any other way is a crash.
start_daemon() {
  local attempt rc rules=
  if [ -n "$faults" ] && [ -s "$CTL" ]; then rules=$(cat "$CTL"); : >"$CTL"; fi
  for attempt in $(seq 1 3); do
    starts=$((starts + 1))
    "$B/hsmgwd" --config "$CFG" 2>"$T/hsmgwd-$starts.log" &
    daemon=$!
    for _ in $(seq 1 600); do
      if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
        [ -n "$rules" ] && printf '%s\n' "$rules" >"$CTL.tmp" && mv "$CTL.tmp" "$CTL"
        return 0
      fi
      kill -0 "$daemon" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$daemon" 2>/dev/null; then
      log "the daemon did not answer within 60 s (log $T/hsmgwd-$starts.log)"
      [ -n "$rules" ] && printf '%s\n' "$rules" >"$CTL.tmp" && mv "$CTL.tmp" "$CTL"
      return 1
    fi
    wait "$daemon"; rc=$?
    if [ "$rc" = 1 ] && grep -q ' start: ' "$T/hsmgwd-$starts.log"; then
      refused=$((refused + 1))
      log "start refused: $(grep -m1 ' start: ' "$T/hsmgwd-$starts.log" | sed 's/.* start: //'); again"
    else
      crashes=$((crashes + 1))
      log "CRASH at start: exit status $rc (log $T/hsmgwd-$starts.log)"
    fi
    sleep 1
  done
  daemon=
  [ -n "$rules" ] && printf '%s\n' "$rules" >"$CTL.tmp" && mv "$CTL.tmp" "$CTL"
  return 1
}

# A daemon that is gone without being killed by the soak crashed.
check_alive() {
  if [ -z "$daemon" ]; then
    start_daemon
  elif ! kill -0 "$daemon" 2>/dev/null; then
    wait "$daemon"; local rc=$?
    crashes=$((crashes + 1))
    log "CRASH: the daemon exited with status $rc (log $T/hsmgwd-$starts.log); restarting"
    start_daemon
  fi
}

set_faults() {
  [ -n "$faults" ] || return 0
  local sets=(
    ""
    "C_Encrypt rv=CKR_DEVICE_ERROR p=0.05"
    "C_Decrypt rv=CKR_DEVICE_ERROR p=0.05"
    "* rv=CKR_SESSION_HANDLE_INVALID p=0.01"
    "* rv=CKR_USER_NOT_LOGGED_IN count=2"
    "C_GenerateKey rv=CKR_DEVICE_ERROR p=0.3"
    "C_Encrypt hang_ms=2500 count=2"
    "C_FindObjectsInit rv=CKR_DEVICE_ERROR p=0.05"
    "* rv=CKR_DEVICE_ERROR p=0.002"
  )
  local rules=${sets[RANDOM % ${#sets[@]}]}
  printf '%s\n' "$rules" >"$CTL.tmp" && mv "$CTL.tmp" "$CTL"
  fault_sets=$((fault_sets + 1))
  log "HSM faults: ${rules:-none}"
}

start_daemon || exit 1
TOKEN=$T/token
"$TB/hsmgwctl" --config "$CFG" token --tenant acme --scope "keys:read keys:write crypto:encrypt crypto:decrypt" \
  --ttl $((SECONDS_TOTAL + 900)) >"$TOKEN" 2>/dev/null || { echo "soak: no token"; exit 1; }
KEY=$(curl -fsS -X POST "http://127.0.0.1:$PORT/v1/keys" -H "Authorization: Bearer $(cat "$TOKEN")" \
  -H 'Content-Type: application/json' -d '{"name":"soak-key","type":"AES"}' | jq -r .id)
[ -n "$KEY" ] && [ "$KEY" != null ] || { echo "soak: no key"; exit 1; }

log "$SECONDS_TOTAL s at $RATE req/s over $THREADS connections against $B/hsmgwd (port $PORT), HSM faults: $([ -n "$faults" ] && echo "faultp11 (random rule sets)" || echo "NOT AVAILABLE (no tests/faultp11 module)")"
"$LOAD" "http://127.0.0.1:$PORT" "$TOKEN" "$KEY" "$RATE" "$THREADS" "$SECONDS_TOTAL" "$T/requests.txt" \
  2>"$T/soakload.log" &
loadpid=$!

# About every 75 s (PostgreSQL) and 90 s (kill -9); a short run gets three of each at least.
pg_every=$((SECONDS_TOTAL < 225 ? SECONDS_TOTAL / 3 : 75))
kill_every=$((SECONDS_TOTAL < 270 ? SECONDS_TOTAL / 3 : 90))
t0=$SECONDS
next_faults=$((t0 + 10)) next_pg=$((t0 + pg_every / 2 + RANDOM % pg_every))
next_kill=$((t0 + kill_every / 2 + RANDOM % kill_every))
while [ $((SECONDS - t0)) -lt "$SECONDS_TOTAL" ]; do
  sleep 1
  check_alive
  now=$SECONDS
  if [ "$now" -ge "$next_faults" ]; then
    set_faults
    next_faults=$((now + 10 + RANDOM % 11))
  fi
  if [ "$now" -ge "$next_pg" ] && [ $((now - t0 + 8)) -lt "$SECONDS_TOTAL" ]; then
    down=$((2 + RANDOM % 5))
    log "PostgreSQL stopped for $down s"
    "$here/env.sh" pg-stop "$VAR" >/dev/null 2>&1
    sleep "$down"
    "$here/env.sh" pg-start "$VAR" >/dev/null 2>&1 || log "PostgreSQL did not start again"
    pg_restarts=$((pg_restarts + 1))
    next_pg=$((SECONDS + pg_every * 2 / 3 + RANDOM % (pg_every * 2 / 3 + 1)))
  fi
  if [ "$now" -ge "$next_kill" ] && [ $((now - t0 + 10)) -lt "$SECONDS_TOTAL" ]; then
    check_alive
    log "kill -9 of the daemon, then a restart"
    [ -n "$daemon" ] && { kill -KILL "$daemon"; wait "$daemon" 2>/dev/null; }
    kills=$((kills + 1))
    start_daemon || log "no daemon: the load goes on against a closed port"
    next_kill=$((SECONDS + kill_every * 2 / 3 + RANDOM % (kill_every * 2 / 3 + 1)))
  fi
done
wait "$loadpid"; loadpid=
set_faults_none() { [ -n "$faults" ] && : >"$CTL"; }
set_faults_none
check_alive

# The end: SIGTERM, exit 0 (LeakSanitizer has run by then). Then one more start and stop: its
# reconciliation closes the intents that requests cut short by a crash or an outage left open.
final_rc=no-daemon
if [ -n "$daemon" ]; then kill -TERM "$daemon"; wait "$daemon"; final_rc=$?; fi
daemon=
start_daemon && {
  kill -TERM "$daemon"; wait "$daemon"; rc=$?; daemon=
  [ "$rc" = 0 ] || final_rc=$rc
}

# Every 2xx request id against the audit trail.
PSQL=(psql -X -q -h "$VAR/pg/run" -U postgres -d hsmgw -tA)
awk '$2 >= 200 && $2 < 300 {print $1}' "$T/requests.txt" | sort -u >"$T/ok-ids.txt"
"${PSQL[@]}" >"$T/missing.txt" <<SQL
CREATE TEMP TABLE ok_ids (rid text PRIMARY KEY);
\copy ok_ids FROM '$T/ok-ids.txt'
SELECT o.rid FROM ok_ids o WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.request_id = o.rid AND a.operation NOT LIKE '%.intent');
SQL
missing=$(grep -c . "$T/missing.txt")
"$TB/hsmgwctl" --config "$CFG" audit public-key >"$T/audit.pem" 2>/dev/null
verify=$("$TB/hsmgwctl" --config "$CFG" audit verify --public-key "$T/audit.pem" 2>&1); verify_rc=$?
sanitizer=$(cat "$T"/hsmgwd-*.log | grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:')
# What the start-up reconciliations did, over every start.
read -r rc_orphans rc_closed < <(cat "$T"/hsmgwd-*.log | grep ' reconcile: .* key IDs on the token' |
  sed -E 's/.* \(([0-9]+) destroyed.*, ([0-9]+) unanswered requests closed.*/\1 \2/' |
  awk '{o += $1; c += $2} END {print o + 0, c + 0}')

read -r total ok c4 c5 none < <(awk '{n++} $2>=200&&$2<300{o++} $2>=400&&$2<500{f++} $2>=500{s++} $2==0{z++}
  END {print n+0, o+0, f+0, s+0, z+0}' "$T/requests.txt")
codes=$(awk '$2>=400 {c[$2]++} END {for (k in c) printf "%s×%d ", k, c[k]}' "$T/requests.txt")
fired=$([ -n "$faults" ] && [ -f "$VAR/hsm/faults.log" ] && wc -l <"$VAR/hsm/faults.log" || echo 0)
ok_all=1
[ "$missing" = 0 ] && [ "$crashes" = 0 ] && [ "$sanitizer" = 0 ] && [ "$final_rc" = 0 ] && [ "$verify_rc" = 0 ] || ok_all=0
summary=$(cat <<EOF
soak summary ($(date -u +%Y-%m-%dT%H:%M:%SZ)): $SECONDS_TOTAL s, $B/hsmgwd (ASan+UBSan), $RATE req/s over $THREADS connections
  faults:      HSM: $([ -n "$faults" ] && echo "faultp11, $fault_sets rule sets, $fired faults fired" || echo "NOT injected (no faultp11 module)"); $pg_restarts PostgreSQL restarts; $kills kill -9 + restart
  requests:    $total sent: $ok 2xx, $c4 4xx, $c5 5xx (${codes:-none}), $none without an answer
  audit:       $(wc -l <"$T/ok-ids.txt") request ids answered 2xx, $missing without their audit row; verify: $verify
  daemon:      $starts starts ($refused refused and tried again), $crashes crashes, $sanitizer sanitizer reports, SIGTERM exit status $final_rc
  reconciled:  at the restarts, $rc_orphans HSM objects without a key version destroyed and $rc_closed intents of cut-short requests closed
  result:      $([ $ok_all = 1 ] && echo PASS || echo FAIL)
EOF
)
echo "$summary"
mkdir -p "$root/bench/results"
echo "$summary" >"$root/bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ).txt"
if [ "$missing" != 0 ]; then echo "missing:"; head -20 "$T/missing.txt"; fi
if [ "$sanitizer" != 0 ]; then grep -h -A30 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T"/hsmgwd-*.log | head -80; fi
[ $ok_all = 1 ]
