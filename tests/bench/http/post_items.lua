-- wrk script: POST one body per request, cycling through the lines of
-- $BODY_FILE, with "Authorization: Bearer $TOKEN".
--   BODY_FILE=items.jsonl TOKEN=... wrk -t1 -c64 -d10s --latency \
--     -s tests/bench/http/post_items.lua http://127.0.0.1:PORT/v1/items
local bodies = {}
for line in io.lines(os.getenv("BODY_FILE")) do
  if #line > 0 then bodies[#bodies + 1] = line end
end
local headers = {
  ["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "none"),
  ["Content-Type"] = "application/json",
}
local reqs = {}
for i, b in ipairs(bodies) do
  reqs[i] = wrk.format("POST", nil, headers, b)
end
local n = 0
request = function()
  n = n + 1
  return reqs[(n % #reqs) + 1]
end
local bad = 0
response = function(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx (thread-local count, thread 1): %d\n", bad))
end
