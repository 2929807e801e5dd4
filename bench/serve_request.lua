-- wrk script of the serving benchmark (bench/serve.sh): POSTs the request bodies of a file
-- (one JSON body per line) round-robin to one path, each thread starting at another body,
-- and prints the results as one JSON line when done.
--
--   wrk -t T -c C -d 15s --latency -s bench/serve_request.lua URL -- PATH BODIES_FILE
--
-- Latencies in the JSON are microseconds (wrk's own unit); errors as wrk counts them:
-- connect/read/write/timeout are socket errors, status counts non-2xx/3xx responses.

local requests = {}
local next_index = 1
local thread_count = 0

function setup(thread)
   thread:set("id", thread_count)
   thread_count = thread_count + 1
end

function init(args)
   local path, file = args[1], args[2]
   if path == nil or file == nil then
      error("usage: wrk ... -s serve_request.lua URL -- PATH BODIES_FILE")
   end
   local f = assert(io.open(file, "r"))
   local headers = { ["Content-Type"] = "application/json" }
   for line in f:lines() do
      if #line > 0 then
         requests[#requests + 1] = wrk.format("POST", path, headers, line)
      end
   end
   f:close()
   if #requests == 0 then
      error("no request bodies in " .. file)
   end
   next_index = ((id or 0) % #requests) + 1
end

function request()
   local r = requests[next_index]
   next_index = next_index % #requests + 1
   return r
end

function done(summary, latency, _)
   local e = summary.errors
   io.write(string.format(
      '{"kind":"wrk","requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"mean":%.1f,"stdev":%.1f,"min":%d,"max":%d},' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d}}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.mean, latency.stdev, latency.min, latency.max,
      e.connect, e.read, e.write, e.timeout, e.status))
end
