description = [[
Shows the headers a web server sends in answer to a HEAD request for its default
page.
]]
author = "scanner project"
license = "Same as the scanner"
categories = { "discovery", "safe" }

local shortport = require "shortport"

portrule = shortport.http

action = function(host, port)
  local socket = nmap.new_socket()
  socket:set_timeout(5000)
  local proto = shortport.ssl(host, port) and "ssl" or "tcp"
  if not socket:connect(host, port, proto) then return nil end
  socket:send("HEAD / HTTP/1.1\r\nHost: " .. host.ip .. "\r\nConnection: close\r\n\r\n")
  local status, head = socket:receive_buf("\r?\n\r?\n", false)
  socket:close()
  if not status then return nil end
  local lines = {}
  for line in head:gmatch("[^\r\n]+") do
    if not line:match("^HTTP/") then lines[#lines + 1] = "  " .. line end
  end
  lines[#lines + 1] = "  "
  lines[#lines + 1] = "  (Request type: HEAD)"
  return "\n" .. table.concat(lines, "\n")
end
