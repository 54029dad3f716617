#!/usr/bin/env bash
# The development and test environment under one directory (var/dev for `make run`, a
# temporary directory for `make test`):
#   VAR/hsm/      SoftHSM configuration, token store, user and SO PINs (mode 0600)
#   VAR/pg/       a private PostgreSQL cluster, reachable only on the unix socket VAR/pg/run
#   VAR/tenants/  per-tenant ES256 key pairs for minting development tokens
#   VAR/hsmgw.json the gateway's configuration
#
#   env.sh up VAR PORT BIN [faults]   create what is missing (reuse what exists), start PostgreSQL,
#                            migrate; with "faults" (make test) the gateway's PKCS#11 module is
#                            BIN/libfaultp11.so in front of SoftHSM, commanded through
#                            VAR/hsm/faults.ctl (tests/faultp11/faultp11.c; no faults until a test
#                            writes it), with short HSM deadlines for the fault tests
#   env.sh down VAR          stop PostgreSQL
#   env.sh pg-stop VAR | pg-start VAR   (for the outage tests)
#
# PostgreSQL refuses to run as root: when run as root, the cluster belongs to the system user
# hsmgw-dev (created if missing); otherwise to the calling user.
set -euo pipefail

cmd=$1
VAR=$(realpath -m "$2")
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PGDATA=$VAR/pg/data
PGRUN=$VAR/pg/run

if [ "$(id -u)" -eq 0 ]; then
  PGOS=hsmgw-dev
  as_pg() { runuser -u "$PGOS" -- "$@"; }
else
  PGOS=$(id -un)
  as_pg() { "$@"; }
fi

pg_running() { as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

pg_start() {
  pg_running && return 0
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$VAR/pg/postgresql.log" -w -t 60 start >/dev/null
}

pg_stop() {
  pg_running || return 0
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
}

# The cluster's user must be able to reach VAR: open the search (x) bit on any parent
# directory that denies it (a mktemp directory, for instance).
open_path() {
  local d=$VAR
  while [ "$d" != / ]; do
    if ! as_pg test -x "$d" 2>/dev/null; then
      echo "hsmgw: allowing $PGOS to traverse $d (chmod o+x)"
      chmod o+x "$d"
    fi
    d=$(dirname "$d")
  done
}

setup_pg() {
  if [ "$(id -u)" -eq 0 ] && ! id -u "$PGOS" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PGOS"
  fi
  mkdir -p "$VAR/pg"
  open_path
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA" "$PGRUN"
    chown "$PGOS" "$VAR/pg" "$PGDATA" "$PGRUN"
    chmod 700 "$PGDATA" "$PGRUN"
    as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
    # Unix socket only, in a directory of mode 0700: no one else on the machine connects.
    cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$PGRUN'
port = 5432
max_connections = 200
CONF
  fi
  pg_start
  local psql=(psql -X -q -h "$PGRUN" -U postgres)
  if [ "$("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'hsmgw'")" != 1 ]; then
    "${psql[@]}" -d postgres -c "CREATE DATABASE hsmgw"
  fi
}

setup_hsm() {
  mkdir -p "$VAR/hsm/tokens"
  chmod 700 "$VAR/hsm"
  cat >"$VAR/hsm/softhsm2.conf" <<CONF
directories.tokendir = $VAR/hsm/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
  (umask 077
   [ -s "$VAR/hsm/user.pin" ] || openssl rand -hex 16 >"$VAR/hsm/user.pin"
   [ -s "$VAR/hsm/so.pin" ] || openssl rand -hex 16 >"$VAR/hsm/so.pin")
  export SOFTHSM2_CONF=$VAR/hsm/softhsm2.conf
  if ! softhsm2-util --show-slots 2>/dev/null | grep -Eq '^ *Label: *hsmgw *$'; then
    softhsm2-util --init-token --free --label hsmgw --so-pin "$(cat "$VAR/hsm/so.pin")" \
      --pin "$(cat "$VAR/hsm/user.pin")" >/dev/null
  fi
}

setup_tenants() {
  for t in acme globex; do
    local d=$VAR/tenants/$t
    mkdir -p "$d"
    if [ ! -s "$d/jwt-signing.pem" ]; then
      (umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/jwt-signing.pem" 2>/dev/null)
      openssl pkey -in "$d/jwt-signing.pem" -pubout -out "$d/jwt-public.pem" 2>/dev/null
    fi
  done
}

write_config() {
  local port=$1 faults=${2:-} t tenants="" softhsm module env extra=""
  softhsm=$(ls /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so 2>/dev/null | head -n 1)
  module=$softhsm
  env="\"SOFTHSM2_CONF\": \"$VAR/hsm/softhsm2.conf\""
  if [ -n "$faults" ]; then
    module=$faults
    env+=", \"FAULTP11_MODULE\": \"$softhsm\", \"FAULTP11_CONTROL\": \"$VAR/hsm/faults.ctl\""
    env+=", \"FAULTP11_LOG\": \"$VAR/hsm/faults.log\""
    # Short enough for the fault tests to wait for, long enough for every other test; scaled
    # with HSMGW_TEST_SLOW (make memcheck runs the daemon under valgrind).
    extra="
    \"operation_timeout_ms\": $((1000 * ${HSMGW_TEST_SLOW:-1})),
    \"health_interval_ms\": 250,"
  fi
  for t in acme globex; do
    tenants+="${tenants:+,}
    {\"name\": \"$t\", \"issuer\": \"https://$t.dev.hsmgw.invalid/\", \"audience\": \"hsmgw\",
     \"algorithms\": [\"ES256\"], \"key_file\": \"$VAR/tenants/$t/jwt-public.pem\",
     \"dev_signing_key_file\": \"$VAR/tenants/$t/jwt-signing.pem\"}"
  done
  cat >"$VAR/hsmgw.json" <<CONF
{
  "listen": {"address": "127.0.0.1", "port": $port},
  "http": {"threads": 64},
  "database": {
    "conninfo": "host=$PGRUN port=5432 dbname=hsmgw user=hsmgw_app connect_timeout=2",
    "admin_conninfo": "host=$PGRUN port=5432 dbname=hsmgw user=postgres connect_timeout=5",
    "pool_size": 32
  },
  "hsm": {
    "module": "$module",
    "token_label": "hsmgw",
    "pin_file": "$VAR/hsm/user.pin",
    "sessions": 32,$extra
    "module_env": {$env},
    "openssl_legacy_provider": true
  },
  "audit": {
    "chain_id": "dev-$(hostname -s)-$port",
    "checkpoint_rows": 200,
    "checkpoint_seconds": 2,
    "anchor_dir": "$VAR/audit-anchors",
    "siem_file": "$VAR/audit-siem.jsonl"
  },
  "log": {"level": "info"},
  "tenants": [$tenants
  ]
}
CONF
}

case $cmd in
  up)
    port=$3 bin=$4 faults=
    if [ "${5:-}" = faults ]; then
      faults=$(realpath "$bin/libfaultp11.so")
      [ -f "$faults" ] || { echo "env.sh: $faults is missing (make $bin/libfaultp11.so)" >&2; exit 1; }
    fi
    mkdir -p "$VAR" "$VAR/audit-anchors"
    setup_hsm
    rm -f "$VAR/hsm/faults.ctl" "$VAR/hsm/faults.log" # no fault survives a new set-up
    setup_tenants
    setup_pg
    write_config "$port" "$faults"
    "$bin/hsmgwctl" --config "$VAR/hsmgw.json" migrate --dir migrations >/dev/null
    ;;
  down) [ -d "$PGDATA" ] && pg_stop || true ;;
  pg-stop) pg_stop ;;
  pg-start) pg_start ;;
  *) echo "usage: env.sh up VAR PORT BIN [faults] | down VAR | pg-stop VAR | pg-start VAR" >&2; exit 2 ;;
esac
