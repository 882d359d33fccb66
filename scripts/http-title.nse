description = [[
Shows the title of a web server's default page (the text of its <title> element),
following one redirect on the same host.
]]
author = "scanner project"
license = "Same as the scanner"
categories = { "default", "discovery", "safe" }

local shortport = require "shortport"
local stdnse = require "stdnse"

portrule = shortport.http

-- GET path over a new connection (TLS where the port is); the status line, headers
-- and body of the answer.
local function get(host, port, path)
  local socket = nmap.new_socket()
  socket:set_timeout(5000)
  local proto = shortport.ssl(host, port) and "ssl" or "tcp"
  local ok = socket:connect(host, port, proto)
  if not ok then return nil end
  socket:send("GET " .. path .. " HTTP/1.0\r\nHost: " .. host.ip .. "\r\nUser-Agent: scanner\r\nConnection: close\r\n\r\n")
  local parts = {}
  while true do
    local status, data = socket:receive()
    if not status then break end
    parts[#parts + 1] = data
    if #table.concat(parts) > 262144 then break end
  end
  socket:close()
  local answer = table.concat(parts)
  local head, body = answer:match("^(.-)\r?\n\r?\n(.*)$")
  return head or answer, body or ""
end

action = function(host, port)
  local head, body = get(host, port, "/")
  if not head then return nil end
  local location = head:match("\n[Ll]ocation: *([^\r\n]+)")
  if location and head:match("^HTTP/%d%.%d 30[12378]") then
    local path = location:match("^/[^/].*") or location:match("^https?://[^/]+(/.*)$")
    if path then
      head, body = get(host, port, path)
      if not head then return nil end
    end
  end
  local title = body:match("<[Tt][Ii][Tt][Ll][Ee][^>]*>([^<]*)<")
  if title then
    title = title:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
    return title
  end
  return "Site doesn't have a title."
end
