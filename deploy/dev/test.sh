#!/usr/bin/env bash
# `make test`, after the builds: one temporary environment (SoftHSM token, PostgreSQL
# cluster, configuration), then for each build directory given (normal, then sanitized):
# the unit tests, and the API tests against a freshly started hsmgwd of that build.
# Everything is stopped and removed at the end, whatever happens.
set -uo pipefail
root=$(pwd)
here=$root/deploy/dev
builds=("$@")
# make memcheck: HSMGW_DAEMON_WRAPPER (valgrind and its options) goes before each daemon's
# command, and only the API tests run: the daemon is what is checked. HSMGW_TEST_SLOW
# multiplies the time limits (tests/api/harness.h), the daemon's start-up wait included.
wrapper=${HSMGW_DAEMON_WRAPPER:-}
slow=${HSMGW_TEST_SLOW:-1}

T=$(mktemp -d /tmp/hsmgw-test.XXXXXX)
chmod 755 "$T"
VAR=$T/var
daemon=
cleanup() {
  [ -n "$daemon" ] && kill -KILL "$daemon" 2>/dev/null
  "$here/env.sh" down "$VAR" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT

# A free loopback port for this run.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
       echo $((20000 + RANDOM % 20000)))

echo "== environment in $T (port $PORT)"
# The daemon runs on the fault-injecting PKCS#11 module (no faults until a test commands one).
"$here/env.sh" up "$VAR" "$PORT" "${builds[0]}" faults || { echo "environment set-up failed"; exit 1; }
# The tests also receive the SIEM feed as RFC 5424 syslog, on a socket they bind themselves.
jq --arg s "$T/siem.sock" '.audit.siem_syslog = $s' "$VAR/hsmgw.json" >"$T/cfg.json" && mv "$T/cfg.json" "$VAR/hsmgw.json"
# Two more tenants with quotas, for the limit tests (they share acme's signing key), and a
# short request timeout.
jq '.tenants += [.tenants[0] + {name: "initech", issuer: "https://initech.dev.hsmgw.invalid/",
                                rate_limit_per_second: 1, rate_limit_burst: 3},
                 .tenants[0] + {name: "umbrella", issuer: "https://umbrella.dev.hsmgw.invalid/",
                                max_concurrent: 2}]
    | .http.request_timeout_seconds = 3' \
  "$VAR/hsmgw.json" >"$T/cfg.json" && mv "$T/cfg.json" "$VAR/hsmgw.json"
# Under valgrind (make memcheck) the daemon is many times slower: its own waits for a session,
# a pooled connection and its audit row's commit grow like the tests' limits (from the
# documented defaults, within the configuration's bounds).
if [ -n "$wrapper" ]; then
  jq --argjson f "$slow" '.hsm.wait_ms = ([2000 * $f, 60000] | min) | .database.wait_ms = ([2000 * $f, 60000] | min)
      | .audit.commit_timeout_ms = ([5000 * $f, 600000] | min)' "$VAR/hsmgw.json" >"$T/cfg.json" &&
    mv "$T/cfg.json" "$VAR/hsmgw.json"
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:exitcode=23
export LSAN_OPTIONS=suppressions=$root/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export CK_FORK=yes

failed=0
out=$T/test-output.log
# Runs a Check binary, echoing its output and keeping it for the closing count.
check() { "$@" 2>&1 | tee -a "$out"; return "${PIPESTATUS[0]}"; }
for b in "${builds[@]}"; do
  if [ -z "$wrapper" ]; then
    echo "== $b: unit tests"
    check "$b/test-unit" || failed=1

    echo "== $b: PKCS#11 tests (SoftHSM)"
    HSMGW_TEST_CONFIG=$VAR/hsmgw.json check "$b/test-p11" || failed=1
  fi

  echo "== $b: API tests"
  log=$T/hsmgwd-$(basename "$b").log
  # Full malloc stacks for the daemon: libcrypto has no frame pointers, and without them a
  # leak inside the PKCS#11 module cannot be told apart from one of ours (tests/lsan.supp).
  ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0 $wrapper "$b/hsmgwd" --config "$VAR/hsmgw.json" 2>"$log" &
  daemon=$!
  up=0
  for _ in $(seq 1 $((300 * slow))); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && { up=1; break; }
    kill -0 "$daemon" 2>/dev/null || break
    sleep 0.1
  done
  if [ $up = 1 ]; then
    HSMGW_TEST_URL=http://127.0.0.1:$PORT HSMGW_TEST_CONFIG=$VAR/hsmgw.json HSMGW_TEST_VAR=$VAR \
      HSMGW_TEST_ENV=$here/env.sh HSMGW_TEST_DAEMON_LOG=$log check "$b/test-api" || failed=1
  else
    echo "hsmgwd did not start"; failed=1
  fi
  kill -TERM "$daemon" 2>/dev/null
  wait "$daemon"; rc=$?
  daemon=
  if [ $rc -ne 0 ]; then echo "hsmgwd ($b) exited with status $rc"; failed=1; fi
  if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log"; then
    echo "sanitizer reports in the $b daemon's log:"; grep -A30 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log" | head -60
    failed=1
  fi
  "$here/env.sh" pg-start "$VAR" >/dev/null 2>&1 # in case a test left it stopped
done

# The fuzz targets (make fuzz-build), a few seconds each from their seeds (new inputs and
# crashes go to build-fuzz/smoke/): a crash fails the run; each target counts as one check.
if [ -z "$wrapper" ] && compgen -G "$root/build-fuzz/fuzz_*" >/dev/null; then
  echo "== fuzz targets, ${HSMGW_FUZZ_SECONDS:-3} s each"
  targets=()
  for f in "$root"/build-fuzz/fuzz_*; do targets+=("${f##*/fuzz_}"); done
  "$root/tests/fuzz/run.sh" "$root/build-fuzz" "${HSMGW_FUZZ_SECONDS:-3}" "$root/build-fuzz/smoke" "${targets[@]}" |
    tee "$T/fuzz.log"
  [ "${PIPESTATUS[0]}" = 0 ] || failed=1
  fuzz_bad=$(grep '^fuzz ' "$T/fuzz.log" | grep -vc ' 0 crashes$')
  echo "100%: Checks: ${#targets[@]}, Failures: $fuzz_bad, Errors: 0" >>"$out"
fi

# One closing line over every Check run: "N passed, N failed".
read -r total bad < <(awk -F'[:,]' '/^[0-9]+%: Checks:/ {t += $3; b += $5 + $7} END {print t + 0, b + 0}' "$out")
[ "$failed" = 0 ] || [ "$bad" -gt 0 ] || bad=1 # a daemon that died or a sanitizer report fails the run too
echo "$((total - bad)) passed, $bad failed"
exit $failed
