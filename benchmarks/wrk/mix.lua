-- A realistic mix: assign, accept, start, escalate, complete (16% each) and
-- GET /tickets/{id} (20%), in a fixed 25-request cycle. Each write goes to a
-- ticket pre-staged in the state it needs (DATA_DIR/mix_*.txt, written by
-- commands.py), from this thread's own slice; no target is used twice.
-- accept/start/complete also send ?ticket_id= (the library reference has no read
-- model to find an assignment's ticket; the other apps ignore the parameter).
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local pools, pos, reads = {}, {}, {}
local cycle, n, r = {}, 0, 0

function init(args)
   common_init(args)
   -- A 4th argument (commands.py --per-kind) runs that one command alone, on its
   -- own targets (DATA_DIR/solo_<kind>.txt).
   local only = args[4]
   if only ~= nil then
      pools[only] = slice("solo_" .. only .. ".txt")
      pos[only] = 0
      cycle = {only}
      return
   end
   for _, kind in ipairs({"assign", "accept", "start", "escalate", "complete"}) do
      pools[kind] = slice("mix_" .. kind .. ".txt")
      pos[kind] = 0
   end
   reads = slice("mix_read.txt")
   local writes = {"assign", "accept", "start", "escalate", "complete"}
   for i = 0, 19 do
      table.insert(cycle, writes[i % 5 + 1])
      if i % 4 == 3 then table.insert(cycle, "read") end
   end
end

local function take(kind)
   pos[kind] = pos[kind] + 1
   return pools[kind][pos[kind]]
end

function request()
   n = n + 1
   local kind = cycle[(n - 1) % #cycle + 1]
   local engineer = engineers[(n + tid) % #engineers + 1]
   if kind == "read" then
      r = r + 1
      return emit("read", "GET", "/tickets/" .. reads[(r - 1) % #reads + 1], nil)
   end
   local line = take(kind)
   if line == nil then return exhausted() end
   if kind == "assign" then
      return emit(kind, "POST", "/assignments", string.format(
         '{"ticket_id": "%s", "engineer_id": "%s", "tier": 1}', line, engineer))
   elseif kind == "escalate" then
      return emit(kind, "POST", "/assignments/escalate", string.format(
         '{"ticket_id": "%s", "reason": "needs L2", "next_engineer_id": "%s"}',
         line, engineer))
   end
   local aid, tid_ = split2(line)
   local path = "/assignments/" .. aid .. "/" .. kind .. "?ticket_id=" .. tid_
   if kind == "complete" then
      return emit(kind, "POST", path,
         '{"completion_status": "success", "time_spent_hours": 1.5, "diagnosis": "fixed"}')
   end
   return emit(kind, "POST", path, nil)
end
