-- wrk script: AES-GCM encrypt of 64 bytes through hsmgw.
-- Usage: TOKEN=... KEY=... wrk -t2 -c32 -d10s -s bench/encrypt.lua http://127.0.0.1:8080
-- wrk itself counts answers other than 2xx/3xx ("Non-2xx or 3xx responses"); CODES=1 also
-- counts each status, at a cost: a response() callback makes wrk hand every answer to Lua,
-- which took 15-35% off what wrk could send on this 2-core machine.
wrk.method = "POST"
wrk.path = "/v1/keys/" .. os.getenv("KEY") .. "/encrypt"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.headers["Content-Type"] = "application/json"
-- 64 bytes of plaintext, base64
wrk.body = '{"plaintext":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg=="}'

local codes = {}
if os.getenv("CODES") == "1" then
  response = function(status, headers, body)
    codes[status] = (codes[status] or 0) + 1
  end
end

done = function(summary, latency, requests)
  for code, n in pairs(codes) do io.write(string.format("status %d: %d\n", code, n)) end
  io.write(string.format("p50 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
