description = [[
Connects to an open TCP port and prints what the service says first (its banner),
for up to five seconds. Non-printing bytes are shown as \xHH escapes, and the banner
is cut at 200 characters.
]]
author = "scanner project"
license = "Same as the scanner"
categories = { "discovery", "safe" }

local shortport = require "shortport"
local stdnse = require "stdnse"

portrule = function(host, port)
  return port.protocol == "tcp" and port.state == "open"
end

action = function(host, port)
  local socket = nmap.new_socket()
  socket:set_timeout(5000)
  local ok, err = socket:connect(host, port)
  if not ok then return nil end
  local status, banner = socket:receive()
  socket:close()
  if not status then return nil end
  banner = banner:gsub("[\r\n]+$", "")
  banner = banner:gsub("[^\32-\126]", function(c) return string.format("\\x%02X", c:byte()) end)
  if #banner > 200 then banner = banner:sub(1, 200) .. "..." end
  return banner
end
