#!/usr/bin/env bash
# PIN translation through hsmgw (ISO-0 under one TDES zone PIN key → ISO-4 under an AES one),
# next to AES-GCM encryption through hsmgw in the same run, as a baseline for the ratio.
# Usage: bench/translate.sh CONFIG URL [SECONDS] [CONNECTIONS]   (wrk, openssl, curl, jq)
# Known zone PIN keys are imported (RSA-OAEP-SHA1 under a fresh RSA key), so that a valid
# encrypted PIN block can be built here with openssl.
set -euo pipefail
cfg=$1 url=$2 secs=${3:-10} conns=${4:-64}
here=$(cd "$(dirname "$0")" && pwd)
bin=${BIN:-$here/../build}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
TOKEN=$("$bin/hsmgwctl" --config "$cfg" token --tenant acme --sub bench --ttl 3600 \
  --scope "keys:read keys:write keys:admin crypto:encrypt payments:pin")
export TOKEN
api() { curl -fsS "$url$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$2"; }
run=$RANDOM$RANDOM
kek=$(api /v1/keys "{\"name\":\"bench-kek-$run\",\"type\":\"RSA\",\"size\":2048,\"usage\":[\"wrap\",\"unwrap\"]}" | jq -r .id)
curl -fsS "$url/v1/keys/$kek/public-key" -H "Authorization: Bearer $TOKEN" | jq -r .pem >"$T/kek.pem"
import() { # name type hex
  printf '%s' "$3" | xxd -r -p | openssl pkeyutl -encrypt -pubin -inkey "$T/kek.pem" -pkeyopt rsa_padding_mode:oaep \
    -pkeyopt rsa_oaep_md:sha1 -pkeyopt rsa_mgf1_md:sha1 | base64 -w0 >"$T/w"
  api /v1/keys/import "{\"name\":\"$1-$run\",\"type\":\"$2\",\"size\":$((${#3} * 4)),\"usage\":[\"pin\"],\
\"wrapping_key\":\"$kek\",\"algorithm\":\"RSA-OAEP-SHA1\",\"wrapped_key\":\"$(cat "$T/w")\"}" | jq -r .id
}
zpk=89ABCDEF0123456776543210FEDCBA98
in=$(import bench-zpk-in TDES $zpk)
out=$(import bench-zpk-out AES 000102030405060708090A0B0C0D0E0F)
# ISO-0 for PIN 1234, PAN 4000001234562: 041234FFFFFFFFFF ⊕ 0000000123456 (12 digits before the check digit)
clear=$(printf '%016X' $((0x041234FFFFFFFFFF ^ 0x0000400000123456)))
block=$(printf '%s' "$clear" | xxd -r -p | openssl enc -des-ede-ecb -K $zpk -nopad | xxd -p -u)
export IN=$in OUT=$out BLOCK=$block PAN=4000001234562
api /v1/payments/pin/translate "{\"incoming_key\":\"$in\",\"incoming_format\":\"ISO-0\",\"outgoing_key\":\"$out\",\
\"outgoing_format\":\"ISO-4\",\"pin_block\":\"$block\",\"pan\":\"$PAN\"}" >/dev/null
KEY=$(api /v1/keys "{\"name\":\"bench-aes-$run\",\"type\":\"AES\"}" | jq -r .id)
export KEY
echo "== PIN translation ISO-0 (TDES) → ISO-4 (AES), $conns connections, ${secs}s"
wrk -t2 -c"$conns" -d"${secs}s" -s "$here/translate.lua" "$url"
echo "== baseline: AES-GCM encrypt of 64 bytes, same gateway, same settings"
wrk -t2 -c"$conns" -d"${secs}s" -s "$here/encrypt.lua" "$url"
