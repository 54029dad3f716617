-- wrk script: sign a 64-byte message through hsmgw with the key named by KEY (its default
-- algorithm: ECDSA-SHA256 for P-256, RSA-PSS-SHA256 for RSA).
-- Usage: TOKEN=... KEY=... wrk -t2 -c32 -d10s -s bench/sign.lua http://127.0.0.1:8080
wrk.method = "POST"
wrk.path = "/v1/keys/" .. os.getenv("KEY") .. "/sign"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"message":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg=="}'
