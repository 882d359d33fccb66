description = [[
Asks a DNS server who it is, three ways: the name server identifier EDNS option
(NSID, RFC 5001), and the CHAOS-class TXT records id.server and version.bind. Shows
what it answers to each (and nothing for what it refuses).
]]
author = "scanner project"
license = "Same as the scanner"
categories = { "discovery", "default", "safe" }

local shortport = require "shortport"
local stdnse = require "stdnse"

portrule = shortport.port_or_service(53, "domain", "udp")

local TXT, CHAOS, OPT, NSID = 16, 3, 41, 3

local function encode_name(name)
  local out = {}
  for label in name:gmatch("[^.]+") do out[#out + 1] = string.pack("s1", label) end
  return table.concat(out) .. "\0"
end

-- A query for `name` of `qtype`/`qclass`; with an OPT record asking for the NSID.
local function query(id, name, qtype, qclass, nsid)
  local header = string.pack(">I2I2I2I2I2I2", id, 0x0100, 1, 0, 0, nsid and 1 or 0)
  local question = encode_name(name) .. string.pack(">I2I2", qtype, qclass)
  local opt = nsid and ("\0" .. string.pack(">I2I2I4s2", OPT, 4096, 0, string.pack(">I2I2", NSID, 0))) or ""
  return header .. question .. opt
end

-- Skips a (possibly compressed) name at `at`; the position after it.
local function skip_name(msg, at)
  while at <= #msg do
    local len = msg:byte(at)
    if len == 0 then return at + 1 end
    if len >= 0xc0 then return at + 2 end
    at = at + 1 + len
  end
  return nil
end

-- The records of a response: { type, class, rdata } each, all sections; nil if
-- it does not parse or does not answer `id`.
local function records(msg, id)
  if #msg < 12 then return nil end
  local rid, flags, qd, an, ns, ar = string.unpack(">I2I2I2I2I2I2", msg)
  if rid ~= id or (flags & 0x8000) == 0 then return nil end
  local at = 13
  for _ = 1, qd do
    at = skip_name(msg, at)
    if not at then return nil end
    at = at + 4
  end
  local out = {}
  for _ = 1, an + ns + ar do
    at = skip_name(msg, at)
    if not at or at + 9 > #msg then return out end
    local rtype, rclass, _, rdlen = string.unpack(">I2I2I4I2", msg, at)
    at = at + 10
    out[#out + 1] = { type = rtype, class = rclass, rdata = msg:sub(at, at + rdlen - 1) }
    at = at + rdlen
  end
  return out
end

local function ask(host, port, payload, id)
  local socket = nmap.new_socket("udp")
  socket:set_timeout(2000)
  local ok = socket:connect(host, port)
  if not ok then return nil end
  for _ = 1, 2 do
    socket:send(payload)
    local got, msg = socket:receive()
    if got then
      socket:close()
      return records(msg, id)
    end
  end
  socket:close()
  return nil
end

local function txt_of(recs)
  for _, r in ipairs(recs or {}) do
    if r.type == TXT and #r.rdata > 0 then
      return string.unpack("s1", r.rdata)
    end
  end
end

action = function(host, port)
  local out = stdnse.output_table()
  local id = math.random(1, 65535)
  for _, r in ipairs(ask(host, port, query(id, "id.server", TXT, CHAOS, true), id) or {}) do
    if r.type == OPT then
      local at = 1
      while at + 3 <= #r.rdata do
        local code, data
        code, data, at = string.unpack(">I2s2", r.rdata, at)
        if code == NSID and #data > 0 then
          local hex = data:gsub(".", function(c) return ("%02x"):format(c:byte()) end)
          out["NSID"] = ("%s (%s)"):format(data:gsub("[^\32-\126]", "."), hex)
        end
      end
    end
  end
  out["id.server"] = txt_of(ask(host, port, query(id + 1, "id.server", TXT, CHAOS, false), id + 1))
  out["bind.version"] = txt_of(ask(host, port, query(id + 2, "version.bind", TXT, CHAOS, false), id + 2))
  if #stdnse.__keys(out) == 0 then return nil end
  return out
end
