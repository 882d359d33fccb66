description = [[
Shows the Server header of a web server's answer, even where version detection did
not name the server.
]]
author = "scanner project"
license = "Same as the scanner"
categories = { "version", "safe", "discovery" }

local shortport = require "shortport"

portrule = shortport.http

action = function(host, port)
  local socket = nmap.new_socket()
  socket:set_timeout(5000)
  local proto = shortport.ssl(host, port) and "ssl" or "tcp"
  if not socket:connect(host, port, proto) then return nil end
  socket:send("HEAD / HTTP/1.0\r\nHost: " .. host.ip .. "\r\n\r\n")
  local status, head = socket:receive_buf("\r?\n\r?\n", false)
  socket:close()
  if not status then return nil end
  local server = head:match("\n[Ss]erver: *([^\r\n]+)")
  return server
end
