-- Shared by assign.lua and mix.lua (loaded with dofile; see commands.py).
-- Script arguments (after `--`): DATA_DIR TOKEN NTHREADS
-- Every wrk thread has ONE connection (commands.py runs -t N -c N), so requests
-- and responses alternate on it and `last_kind` tells what each response answers.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("tid", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

data_dir, token, nthreads = nil, nil, 1
counts = {}
last_kind = "?"

-- Lines of DATA_DIR/name that belong to this thread (its own slice: no sharing).
function slice(name)
   local out, i = {}, 0
   local f = io.open(data_dir .. "/" .. name, "r")
   if f == nil then return out end
   for line in f:lines() do
      if line ~= "" then
         if i % nthreads == tid then table.insert(out, line) end
         i = i + 1
      end
   end
   f:close()
   return out
end

function read_all(name)
   local out = {}
   local f = io.open(data_dir .. "/" .. name, "r")
   if f == nil then return out end
   for line in f:lines() do if line ~= "" then table.insert(out, line) end end
   f:close()
   return out
end

function common_init(args)
   data_dir, token, nthreads = args[1], args[2], tonumber(args[3])
   headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
   engineers = read_all("engineers.txt")
end

function split2(line)
   local a, b = line:match("^(%S+)%s+(%S+)$")
   return a, b
end

function emit(kind, method, path, body)
   last_kind = kind
   counts[kind .. ":sent"] = (counts[kind .. ":sent"] or 0) + 1
   return wrk.format(method, path, headers, body)
end

function exhausted()
   last_kind = "exhausted"
   return wrk.format("GET", "/healthz", headers, nil)
end

function response(status, hdrs, body)
   local class = tostring(math.floor(status / 100)) .. "xx"
   local key = last_kind .. ":" .. class
   counts[key] = (counts[key] or 0) + 1
   -- the ledger marks a response whose read-your-writes wait timed out
   if hdrs["x-ledger-consistency"] == "stale" or hdrs["X-Ledger-Consistency"] == "stale" then
      counts[last_kind .. ":stale"] = (counts[last_kind .. ":stale"] or 0) + 1
   end
end

function done(summary, latency, requests)
   local total = {}
   for _, thread in ipairs(threads) do
      local c = thread:get("counts")
      for k, v in pairs(c) do total[k] = (total[k] or 0) + v end
   end
   local parts = {}
   for k, v in pairs(total) do table.insert(parts, string.format('"%s": %d', k, v)) end
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, ' ..
      '"p99_us": %d, "max_us": %d, "errors_connect": %d, "errors_read": %d, ' ..
      '"errors_write": %d, "errors_status": %d, "errors_timeout": %d, "counts": {%s}}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, summary.errors.connect, summary.errors.read,
      summary.errors.write, summary.errors.status, summary.errors.timeout,
      table.concat(parts, ", ")))
end
