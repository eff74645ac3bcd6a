-- Assign-only: one POST /assignments per request, each on a DISTINCT open ticket.
-- Every thread (one connection) walks its own slice of DATA_DIR/assign.txt (or of
-- the file named by a 4th script argument: commands.py warms up on warm.txt).
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local tickets, n = {}, 0

function init(args)
   common_init(args)
   tickets = slice(args[4] or "assign.txt")
end

function request()
   n = n + 1
   local ticket = tickets[n]
   if ticket == nil then return exhausted() end
   local engineer = engineers[(n + tid) % #engineers + 1]
   return emit("assign", "POST", "/assignments", string.format(
      '{"ticket_id": "%s", "engineer_id": "%s", "tier": 1, "reason": "bench dispatch"}',
      ticket, engineer))
end
