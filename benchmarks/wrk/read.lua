-- One read query, random targets: GET of the kind named by BENCH_READ_KIND on a
-- random ticket (DATA_DIR/read_tickets.txt) or engineer (engineers.txt).
-- Script arguments as common.lua's: DATA_DIR TOKEN NTHREADS (see queries.py).
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local ids = {}
local kind = os.getenv("BENCH_READ_KIND")

function init(args)
   common_init(args)
   ids = read_all("read_tickets.txt")
   math.randomseed(os.time() + tid * 7919)
end

local paths = {
   ticket = function(t) return "/tickets/" .. t end,
   current = function(t) return "/tickets/" .. t .. "/current-assignment" end,
   assignments = function(t) return "/tickets/" .. t .. "/assignments" end,
   events = function(t) return "/events?ticket_id=" .. t end,
}

function request()
   if kind == "engineer" then
      local e = engineers[math.random(#engineers)]
      return emit(kind, "GET", "/assignments?engineer_id=" .. e .. "&status=active", nil)
   end
   return emit(kind, "GET", paths[kind](ids[math.random(#ids)]), nil)
end
