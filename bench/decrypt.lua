-- wrk script: AES-GCM decrypt of a 64-byte plaintext through hsmgw; CIPHERTEXT is what
-- /encrypt answered for it under KEY (bench/run.sh makes one).
-- Usage: TOKEN=... KEY=... CIPHERTEXT=hsmgw:v1:... wrk -t2 -c32 -d10s -s bench/decrypt.lua http://127.0.0.1:8080
wrk.method = "POST"
wrk.path = "/v1/keys/" .. os.getenv("KEY") .. "/decrypt"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"ciphertext":"' .. os.getenv("CIPHERTEXT") .. '"}'
