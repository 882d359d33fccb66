description = [[
Lists the algorithms an SSH-2 server offers, from its KEXINIT message: key exchange,
host key, encryption, MAC and compression algorithms, each with how many there are,
in the server's order of preference. Only the server's first message after the
version exchange is read; no key exchange takes place.
]]
author = "scanner project"
license = "Same as the scanner"
categories = { "discovery", "safe" }

local shortport = require "shortport"
local stdnse = require "stdnse"

portrule = shortport.port_or_service(22, "ssh")

-- The name-lists of KEXINIT, in order; the client-to-server and server-to-client
-- lists of ciphers, MACs and compression are the same on every server worth the
-- name, so the server-to-client ones are shown.
local LISTS = { "kex_algorithms", "server_host_key_algorithms",
  "encryption_algorithms_client_to_server", "encryption_algorithms",
  "mac_algorithms_client_to_server", "mac_algorithms",
  "compression_algorithms_client_to_server", "compression_algorithms" }
local SHOWN = { "kex_algorithms", "server_host_key_algorithms", "encryption_algorithms",
  "mac_algorithms", "compression_algorithms" }

-- The server's KEXINIT payload, or nil and why not.
local function kexinit(socket)
  local ok, banner = socket:receive_buf("\r?\n", false)
  if not ok then return nil, "no banner" end
  if not banner:match("^SSH%-") then return nil, "not SSH: " .. banner:sub(1, 40) end
  socket:send("SSH-2.0-scanner_ssh2-enum-algos\r\n")
  local head_ok, head = socket:receive_bytes(5)
  if not head_ok then return nil, "no packet after the banner" end
  local length = string.unpack(">I4", head)
  if length < 2 or length > 35000 then return nil, "bad packet length " .. length end
  local data = head
  while #data < length + 4 do
    local more_ok, more = socket:receive_bytes(length + 4 - #data)
    if not more_ok then return nil, "the packet was cut short" end
    data = data .. more
  end
  local padding = data:byte(5)
  local payload = data:sub(6, 4 + length - padding)
  if payload:byte(1) ~= 20 then return nil, "the first packet is not KEXINIT" end
  return payload
end

action = function(host, port)
  local socket = nmap.new_socket()
  socket:set_timeout(5000)
  local ok, err = socket:connect(host, port)
  if not ok then return nil end
  local payload, why = kexinit(socket)
  socket:close()
  if not payload then
    stdnse.debug(1, "%s", why)
    return nil
  end
  -- Message number, 16-byte cookie, then the name-lists (uint32 length + text).
  local at = 18
  local lists = {}
  for _, name in ipairs(LISTS) do
    if at + 3 > #payload then return nil end
    local text
    text, at = string.unpack(">s4", payload, at)
    local names = {}
    for item in text:gmatch("[^,]+") do names[#names + 1] = item end
    lists[name] = names
  end
  local out, lines = stdnse.output_table(), {}
  for _, name in ipairs(SHOWN) do
    out[name] = lists[name]
    lines[#lines + 1] = ("  %s: (%d)"):format(name, #lists[name])
    for _, item in ipairs(lists[name]) do lines[#lines + 1] = "      " .. item end
  end
  return out, "\n" .. table.concat(lines, "\n")
end
