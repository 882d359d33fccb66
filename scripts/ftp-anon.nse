description = [[
Checks whether an FTP server lets the anonymous user in, and if so lists the top
folder.
]]
author = "scanner project"
license = "Same as the scanner"
categories = { "default", "auth", "safe" }

local shortport = require "shortport"

portrule = shortport.port_or_service(21, "ftp")

-- One FTP reply (the final line of a multi-line one): code and text.
local function reply(socket)
  while true do
    local ok, line = socket:receive_buf("\r?\n", false)
    if not ok then return nil end
    local code, sep = line:match("^(%d%d%d)([ -])")
    if code and sep == " " then return tonumber(code), line end
  end
end

action = function(host, port)
  local control = nmap.new_socket()
  control:set_timeout(8000)
  if not control:connect(host, port) then return nil end
  local code = reply(control)
  if code ~= 220 then control:close() return nil end
  control:send("USER anonymous\r\n")
  code = reply(control)
  if code == 331 then
    control:send("PASS scanner@\r\n")
    code = reply(control)
  end
  if code ~= 230 then
    control:close()
    return nil
  end
  local lines = { "Anonymous FTP login allowed (FTP code 230)" }
  control:send("PASV\r\n")
  local pcode, ptext = reply(control)
  local a, b, c, d, p1, p2 = (ptext or ""):match("(%d+),(%d+),(%d+),(%d+),(%d+),(%d+)")
  if pcode == 227 and p1 then
    local data = nmap.new_socket()
    data:set_timeout(8000)
    if data:connect(host, tonumber(p1) * 256 + tonumber(p2)) then
      control:send("LIST\r\n")
      local listing = {}
      while true do
        local ok, chunk = data:receive()
        if not ok then break end
        listing[#listing + 1] = chunk
      end
      data:close()
      for entry in table.concat(listing):gmatch("[^\r\n]+") do lines[#lines + 1] = entry end
    end
  end
  control:send("QUIT\r\n")
  control:close()
  return table.concat(lines, "\n")
end
