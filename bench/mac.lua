-- wrk script: a MAC of a 64-byte message through hsmgw with the key named by KEY (its default
-- algorithm: HMAC-SHA256 for HMAC keys, AES-CMAC for AES keys).
-- Usage: TOKEN=... KEY=... wrk -t2 -c32 -d10s -s bench/mac.lua http://127.0.0.1:8080
wrk.method = "POST"
wrk.path = "/v1/keys/" .. os.getenv("KEY") .. "/mac"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"message":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg=="}'
