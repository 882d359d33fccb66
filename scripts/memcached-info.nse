description = [[
Asks a memcached server for its statistics (the text protocol's "stats") and shows
its process id, uptime, version, word size, connections and items.
]]
author = "scanner project"
license = "Same as the scanner"
categories = { "discovery", "safe" }

local shortport = require "shortport"
local stdnse = require "stdnse"

portrule = shortport.port_or_service(11211, { "memcached", "memcache" })

local FIELDS = {
  { "pid", "Process ID" },
  { "uptime", "Uptime", " seconds" },
  { "version", "Version" },
  { "pointer_size", "Architecture", " bit" },
  { "curr_connections", "Current connections" },
  { "total_connections", "Total connections" },
  { "curr_items", "Items" },
}

action = function(host, port)
  local socket = nmap.new_socket()
  socket:set_timeout(5000)
  if not socket:connect(host, port) then return nil end
  socket:send("stats\r\n")
  local stats = ""
  while not stats:find("END\r\n", 1, true) do
    local ok, data = socket:receive()
    if not ok then break end
    stats = stats .. data
  end
  socket:close()
  local values = {}
  for key, value in stats:gmatch("STAT ([%w_]+) ([^\r\n]*)") do values[key] = value end
  if not values.pid then return nil end
  local out = stdnse.output_table()
  for _, field in ipairs(FIELDS) do
    if values[field[1]] then out[field[2]] = values[field[1]] .. (field[3] or "") end
  end
  return out
end
