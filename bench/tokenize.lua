-- wrk script: tokenization of one PAN (6 + 4 digits kept, Luhn) through hsmgw with the key
-- named by KEY (usage tokenize: AES gives FF1 tokens, HMAC deterministic ones); PAN is optional.
-- Usage: TOKEN=... KEY=... wrk -t2 -c32 -d10s -s bench/tokenize.lua http://127.0.0.1:8080
wrk.method = "POST"
wrk.path = "/v1/tokens/tokenize"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"key":"' .. os.getenv("KEY") .. '","values":["' .. (os.getenv("PAN") or "4111111111111111")
  .. '"],"luhn":true}'
