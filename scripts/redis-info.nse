description = [[
Asks a Redis server for its INFO and shows its version, operating system,
architecture, process id, uptime, connected clients and role.
]]
author = "scanner project"
license = "Same as the scanner"
categories = { "discovery", "safe" }

local shortport = require "shortport"
local stdnse = require "stdnse"

portrule = shortport.port_or_service(6379, "redis")

local FIELDS = {
  { "redis_version", "Version" },
  { "os", "Operating System" },
  { "arch_bits", "Architecture" },
  { "process_id", "Process ID" },
  { "uptime_in_seconds", "Uptime" },
  { "connected_clients", "Connected clients" },
  { "role", "Role" },
}

action = function(host, port)
  local socket = nmap.new_socket()
  socket:set_timeout(5000)
  if not socket:connect(host, port) then return nil end
  socket:send("INFO\r\n")
  local status, header = socket:receive_buf("\r\n", false)
  if not status then socket:close() return nil end
  if header:match("^%-") then
    socket:close()
    return "ERROR: " .. header:sub(2)
  end
  local length = tonumber(header:match("^%$(%d+)"))
  if not length then socket:close() return nil end
  local info = ""
  while #info < length do
    local ok, data = socket:receive()
    if not ok then break end
    info = info .. data
  end
  socket:close()
  local values = {}
  for key, value in info:gmatch("([%w_]+):([^\r\n]*)") do values[key] = value end
  local out = stdnse.output_table()
  for _, field in ipairs(FIELDS) do
    local value = values[field[1]]
    if value then
      if field[1] == "arch_bits" then value = value .. " bits" end
      if field[1] == "uptime_in_seconds" then value = value .. " seconds" end
      out[field[2]] = value
    end
  end
  return out
end
