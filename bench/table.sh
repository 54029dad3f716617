#!/usr/bin/env bash
# Prints a bench/results/*.json file (written by bench/run.sh) as the table `make bench` shows.
# Usage: bench/table.sh RESULT.json
set -euo pipefail
f=$1

jq -r '"hsmgw benchmark \(.started), commit \(.commit[0:12])"
  + (if .uncommitted_files_in_src_include_makefile > 0
     then " + \(.uncommitted_files_in_src_include_makefile) uncommitted files in src/ include/ Makefile" else "" end)
  + ", \(.machine.cpus) CPUs (\(.machine.cpu))",
  "\(.settings.seconds) s per figure (PKCS#11: \(.settings.p11_seconds) s); saturation: wrk \(.settings.wrk); fixed loads: loadgen over \(.settings.loadgen_connections) connections, latency from the scheduled send time",
  "http.threads \(.settings.http_threads), hsm.sessions \(.settings.hsm_sessions), database.pool_size \(.settings.database_pool_size), audit on (no SIEM file), load generators on loopback",
  ""' "$f"

# One row per route: name raw1 raw2 rps wrk_non2xx ratio, then per rate: achieved p50 p99 p99.9 failed.
{
  jq -r '.settings.rates | map(tostring) | join(" ")' "$f"
  jq -r '
    def lat: . as $l | [$l | keys_unsorted[] | tostring] | map($l[.] | [.achieved_rate, .p50_ms, .p99_ms, .p999_ms,
                                                   (.non_2xx + .errors + .incomplete)]) | flatten;
    (.routes[] | [.name, .raw.threads_1, .raw.threads_2, .wrk.rps, (.wrk.non_2xx + .wrk.socket_errors),
                  (.ratio_to_raw_2_threads // "-")] + (.latency | lat)),
    (["bare libmicrohttpd", "-", "-", .bare_mhd.wrk.rps, (.bare_mhd.wrk.non_2xx + .bare_mhd.wrk.socket_errors), "-"]
     + (.bare_mhd.latency | lat))
    | map(tostring) | join("\t")' "$f"
} | awk -F'\t' '
  NR == 1 { n = split($0, rates, " ")
            printf "%-22s %-19s %9s %5s %7s", "", " raw PKCS#11 op/s", "hsmgw", "", "ratio"
            for (i = 1; i <= n; i++) printf " | %-38s", "offered " rates[i] " req/s (ms)"
            printf "\n%-22s %9s %9s %9s %5s %7s", "operation", "1 thread", "2 threads", "req/s", "fail", "to raw2"
            for (i = 1; i <= n; i++) printf " | %8s %6s %6s %7s %6s", "got/s", "p50", "p99", "p99.9", "fail"
            printf "\n"; next }
  { printf "%-22s %9s %9s %9.0f %5s %7s", $1, $2, $3, $4, $5, $6
    for (i = 0; i < n; i++) { b = 7 + i * 5
      printf " | %8.0f %6.2f %6.2f %7.2f %6s", $(b), $(b + 1), $(b + 2), $(b + 3), $(b + 4) }
    printf "\n" }'

jq -r '
  def v: if . == null then "-" elif type == "number" and . != floor then (. * 1000 | round / 1000 | tostring) else tostring end;
  .bare_mhd.wrk.rps as $bare
  | (.routes[] | select(.id == "encrypt") | "",
   "encrypt: lower raw ceiling = min(PKCS#11 2 threads \(.raw.threads_2), bare libmicrohttpd \($bare | round)) = \(.lower_ceiling | round); hsmgw / it = \(.ratio_to_lower_ceiling | v)"),
  "fail = non-2xx answers + transport errors (+ requests unanswered \(.settings.drain_seconds) s after a fixed-rate schedule ended, counted in the percentiles with their wait so far)",
  "",
  "target (printed, never enforced)                 figure    verdict",
  (.targets[] | "\(.what | . + " " * (48 - length))  \(.figure | v | " " * (8 - length) + .)    \(if .met then "met" else "missed" end)"),
  "",
  "hsmgwd memory after the run\(if .soak then " and the soak" else "" end): peak (max of VmHWM and every VmRSS read) \(.hsmgwd.peak_rss_kib / 1024 * 10 | round / 10) MiB, now (VmRSS) \(.hsmgwd.vm_rss_kib / 1024 * 10 | round / 10) MiB",
  (if .soak and .soak.hsmgwd_died_by_seconds != null then
     "soak: hsmgwd DIED within 10 s before \(.soak.hsmgwd_died_by_seconds) s of the soak (exit status \(.soak.hsmgwd_exit_status)); RSS until then (MiB): \([.soak.samples[] | .rss_kib / 1024 * 10 | round / 10 | tostring] | join(" "))"
   elif .soak then
     "soak: encrypt at \(.soak.rate) req/s for \(.soak.seconds) s: achieved \(.soak.loadgen.achieved_rate) req/s, p50 \(.soak.loadgen.p50_ms) / p99 \(.soak.loadgen.p99_ms) / p99.9 \(.soak.loadgen.p999_ms) ms, \(.soak.loadgen.non_2xx + .soak.loadgen.errors + .soak.loadgen.incomplete) failed",
     "  RSS (MiB) every 10 s: \([.soak.samples[] | .rss_kib / 1024 * 10 | round / 10 | tostring] | join(" "))",
     "  \(if .soak.flat then "flat" else "NOT flat" end): at most \(.soak.growth_kib / 1024 * 10 | round / 10) MiB above the sample at \(.soak.baseline_t) s (flat = within max(4 MiB, 5%))"
   else empty end)' "$f"
