#!/usr/bin/env bash
# Installs the Debian packages hsmgw needs to build, run and test, if any is missing.
# Runs apt-get as root (directly, or through sudo when not root).
set -euo pipefail

pkgs=(make gcc libc6-dev pkg-config libmicrohttpd-dev libgnutls28-dev libjansson-dev libjwt-dev libssl-dev libpq-dev
      libp11-kit-dev postgresql softhsm2 check libcurl4-openssl-dev openssl curl clang-format jq
      clang libclang-rt-dev valgrind)
# clang and libclang-rt-dev (libFuzzer and clang's sanitizer runtimes, which Debian 12's clang
# does not pull in) build the fuzz targets; valgrind runs `make memcheck`.
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm run the OpenAPI bundler and linter; any installed Node.js ≥ 18.17 will do.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

[ ${#missing[@]} -eq 0 ] && exit 0
echo "hsmgw: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
