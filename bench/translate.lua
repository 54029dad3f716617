-- wrk script: PIN translation through hsmgw; bench/translate.sh sets IN, OUT, BLOCK, PAN, TOKEN.
wrk.method = "POST"
wrk.path = "/v1/payments/pin/translate"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"incoming_key":"%s","incoming_format":"ISO-0","outgoing_key":"%s",'
  .. '"outgoing_format":"ISO-4","pin_block":"%s","pan":"%s"}',
  os.getenv("IN"), os.getenv("OUT"), os.getenv("BLOCK"), os.getenv("PAN"))

local codes = {}
response = function(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

done = function(summary, latency, requests)
  for code, n in pairs(codes) do io.write(string.format("status %d: %d\n", code, n)) end
  io.write(string.format("p50 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
