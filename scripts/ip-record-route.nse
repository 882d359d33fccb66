description = [[
Pings a host with the IP record-route option (RFC 791) and lists the addresses the
routers on the way, and the host itself, wrote into it: the route there and back,
nine addresses at most. Routers that do not honour the option leave no address.

Raw packets: needs a raw-packet scan run as root.
]]
author = "scanner project"
license = "Same as the scanner"
categories = { "discovery", "safe" }

local stdnse = require "stdnse"
local rawpacket = require "rawpacket"

hostrule = function(host)
  return rawpacket.available()
end

-- Record route: type 7, length 39, pointer 4, then room for nine addresses.
local RECORD_ROUTE = "\x07\x27\x04" .. string.rep("\0", 36)

-- The addresses a record-route option holds (up to its pointer).
local function recorded(options)
  local i = 1
  while i <= #options do
    local kind = options:byte(i)
    if kind == 0 then return nil end
    if kind == 1 then
      i = i + 1
    else
      local len, ptr = options:byte(i + 1), options:byte(i + 2)
      if not len or len < 2 then return nil end
      if kind == 7 and ptr then
        local out = {}
        for at = i + 3, i + ptr - 2, 4 do
          local a, b, c, d = options:byte(at, at + 3)
          if not d then break end
          out[#out + 1] = string.format("%d.%d.%d.%d", a, b, c, d)
        end
        return out
      end
      i = i + len
    end
  end
  return nil
end

action = function(host)
  local id = math.random(1, 65535)
  local capture, err = rawpacket.capture { proto = "icmp", host = host.ip, icmp_id = id }
  if not capture then return stdnse.format_output(false, err) end
  for seq = 1, 3 do
    local ping = rawpacket.icmp { dst = host.ip, type = 8, icmp_id = id, icmp_seq = seq,
      ip_options = RECORD_ROUTE, payload = "scanner ip-record-route" }
    local sent, why = rawpacket.send(ping)
    if not sent then capture:close() return stdnse.format_output(false, why) end
    local ok, packet = capture:receive(1000)
    if ok then
      local p = rawpacket.dissect(packet)
      if p.icmp and p.icmp.type == 0 then
        capture:close()
        local route = recorded(p.ip.options)
        if not route then return "the reply carries no record-route option" end
        if #route == 0 then return "no address recorded" end
        return route
      end
    end
  end
  capture:close()
  return nil
end
