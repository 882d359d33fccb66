-- The parts of the script API written in Lua, loaded once into the scripting state
-- before any script: nmap's `shortport` rules and `stdnse` helpers. The native parts
-- (sockets, sleep, clock, script arguments) are installed by the engine first.

local stdnse, nmap = stdnse, nmap
-- What the prelude calls, taken now: nothing a script does later changes them.
local ipairs, pairs, type, error, tostring, setmetatable, getmetatable =
  ipairs, pairs, type, error, tostring, setmetatable, getmetatable
local string_find, string_sub = string.find, string.sub
local table_remove, table_sort = table.remove, table.sort
local coroutine_running, coroutine_status = coroutine.running, coroutine.status

-- An ordered table: keys come back in the order they were set, as NSE's
-- stdnse.output_table() gives, so that output lists fields as the script wrote them.
function stdnse.output_table()
  local keys, values = {}, {}
  local mt = {}
  mt.__newindex = function(_, k, v)
    if values[k] == nil then keys[#keys + 1] = k end
    if v == nil then
      for i, key in ipairs(keys) do
        if key == k then table_remove(keys, i) break end
      end
    end
    values[k] = v
  end
  mt.__index = function(_, k) return values[k] end
  mt.__pairs = function()
    local i = 0
    return function()
      i = i + 1
      local k = keys[i]
      if k ~= nil then return k, values[k] end
    end
  end
  mt.__len = function() return #values end
  mt.__ordered_keys = keys
  -- The engine reads output without running metamethods.
  mt.__ordered_values = values
  return setmetatable({}, mt)
end

-- Keys of an output table in their order (plain tables: sorted, arrays first).
function stdnse.__keys(t)
  local mt = getmetatable(t)
  if mt and mt.__ordered_keys then return mt.__ordered_keys end
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table_sort(keys, function(a, b)
    if type(a) == type(b) then return a < b end
    return type(a) == "number"
  end)
  return keys
end

function stdnse.format_output(status, data)
  if not status then return "ERROR: " .. tostring(data) end
  return data
end

function stdnse.strsplit(pattern, text)
  local out = {}
  local start = 1
  while true do
    local s, e = string_find(text, pattern, start)
    if not s then out[#out + 1] = string_sub(text, start) break end
    out[#out + 1] = string_sub(text, start, s - 1)
    start = e + 1
  end
  return out
end

-- nmap.condvar(object) and nmap.mutex(object): one of each per object (any table,
-- string or function), shared by every script and thread that names it.
local sync_ids = setmetatable({}, { __mode = "k" })
local strings_ids = {}
local next_sync_id = 0
local function sync_id(object, kind)
  local ids = type(object) == "string" and strings_ids or sync_ids
  ids[object] = ids[object] or {}
  if ids[object][kind] == nil then
    next_sync_id = next_sync_id + 1
    ids[object][kind] = next_sync_id
  end
  return ids[object][kind]
end

function nmap.condvar(object)
  local id = sync_id(object, "condvar")
  return function(op)
    if op == "wait" then return nmap.__wait(id)
    elseif op == "signal" then return nmap.__wake(id, false)
    elseif op == "broadcast" then return nmap.__wake(id, true)
    else error("condvar: unknown operation " .. tostring(op) .. " (wait, signal, broadcast)", 2) end
  end
end

local mutex_owner = setmetatable({}, { __mode = "k" })
local string_mutex_owner = {}
function nmap.mutex(object)
  local id = sync_id(object, "mutex")
  local owners = type(object) == "string" and string_mutex_owner or mutex_owner
  return function(op)
    local me = coroutine_running()
    if op == "lock" then
      while owners[object] ~= nil and owners[object] ~= me
        and coroutine_status(owners[object]) ~= "dead" do
        nmap.__wait(id)
      end
      owners[object] = me
      return true
    elseif op == "trylock" then
      local owner = owners[object]
      if owner == nil or owner == me or coroutine_status(owner) == "dead" then
        owners[object] = me
        return true
      end
      return false
    elseif op == "done" or op == "unlock" then
      if owners[object] == me then
        owners[object] = nil
        nmap.__wake(id, false)
      end
      return true
    elseif op == "running" then
      return owners[object]
    else
      error("mutex: unknown operation " .. tostring(op) .. " (lock, trylock, done, running)", 2)
    end
  end
end

-- stdnse.new_thread(f, ...): f runs as a coroutine of its own beside its parent (of
-- the script that runs now); returns the coroutine and a function that says
-- "running" or "dead".
function stdnse.new_thread(f, ...)
  if type(f) ~= "function" then error("new_thread: a function is needed", 2) end
  local co = stdnse.__new_thread(f, ...)
  return co, function()
    if coroutine_status(co) == "dead" then return "dead" end
    return "running"
  end
end

-- nmap.get_ports(host, after, protocol, state): the port after `after` (nil for the
-- first) of `host` whose protocol and state match (nil for any), as NSE has it.
function nmap.get_ports(host, after, protocol, state)
  local ports = host.__ports or {}
  local i = 1
  if after ~= nil then
    while ports[i] and not (ports[i].number == after.number
      and ports[i].protocol == after.protocol) do i = i + 1 end
    i = i + 1
  end
  while ports[i] do
    local p = ports[i]
    if (protocol == nil or p.protocol == protocol) and (state == nil or p.state == state) then
      return p
    end
    i = i + 1
  end
  return nil
end

shortport = {}

local function contains(list, value)
  if type(list) ~= "table" then return list == value end
  for _, v in ipairs(list) do
    if v == value then return true end
  end
  return false
end

-- A rule: the port's `field` is one of `values`, its protocol one of `protos` (tcp),
-- its state one of `states` (open, open|filtered).
local function rule(field, values, protos, states)
  protos = protos or "tcp"
  states = states or { "open", "open|filtered" }
  return function(host, port)
    return contains(values, port[field]) and contains(protos, port.protocol)
      and contains(states, port.state)
  end
end

function shortport.portnumber(ports, protos, states)
  return rule("number", ports, protos, states)
end

function shortport.service(services, protos, states)
  return rule("service", services, protos, states)
end

function shortport.port_or_service(ports, services, protos, states)
  local by_port = shortport.portnumber(ports, protos, states)
  local by_service = shortport.service(services, protos, states)
  return function(host, port)
    return by_port(host, port) or by_service(host, port)
  end
end

local HTTP_PORTS = { 80, 443, 631, 7080, 8080, 8443, 8088, 5800, 3872, 8180, 8000 }
local HTTP_SERVICES = { "http", "https", "ipp", "http-alt", "https-alt", "vnc-http",
  "oem-agent", "soap", "http-proxy", "caldav", "carddav", "webdav" }
shortport.http = shortport.port_or_service(HTTP_PORTS, HTTP_SERVICES)

local SSL_PORTS = { 261, 271, 324, 443, 465, 563, 585, 636, 853, 989, 990, 992, 993,
  994, 995, 2221, 2252, 2376, 3269, 3389, 4911, 5061, 5986, 6679, 6697, 8443, 8883, 9001 }
function shortport.ssl(host, port)
  return port.version.service_tunnel == "ssl" or contains(SSL_PORTS, port.number)
    and port.protocol == "tcp" and port.state == "open"
end

package = package or {}
package.loaded = package.loaded or {}
package.loaded.shortport = shortport
package.loaded.stdnse = stdnse
package.loaded.nmap = nmap
package.loaded.rawpacket = rawpacket

function require(name)
  local lib = package.loaded[name]
  if lib == nil then error("module '" .. name .. "' is not available to scripts here") end
  return lib
end
