-- wrk script: key creation through hsmgw (generation inside the HSM, metadata, audit).
-- Usage: TOKEN=... TYPE=AES SIZE=256 wrk -t1 -c4 -d10s -s bench/create_key.lua http://127.0.0.1:8080
local counter = 0
local prefix = string.format("bench-%d-%d", os.time(), math.random(1, 1000000000))
local ktype = os.getenv("TYPE") or "AES"
local size = os.getenv("SIZE") or "256"

request = function()
  counter = counter + 1
  local body = string.format('{"name":"%s-%d","type":"%s","size":%s}', prefix, counter, ktype, size)
  return wrk.format("POST", "/v1/keys", {
    ["Authorization"] = "Bearer " .. os.getenv("TOKEN"),
    ["Content-Type"] = "application/json",
  }, body)
end

setup = function(thread)
  thread:set("id", math.random(1, 1000000000))
end

init = function(args)
  prefix = string.format("bench-%d-%d", os.time(), id or math.random(1, 1000000000))
end
