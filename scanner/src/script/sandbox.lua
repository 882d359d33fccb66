-- The sandbox every script runs in, built once with the engine's own globals (which
-- no script sees) after the native API and the prelude. Returns `new_env(id)`, a
-- script's environment, and `raise_verbosity(env)`.
--
-- What a script gets:
-- - its own globals (`_G` is its environment), over read-only views of the shared
--   library tables (`string`, `table`, `nmap`, `stdnse`, ...): assigning into one is
--   an error, `rawset` refuses them, their metatables are locked; the string
--   metatable is locked too;
-- - `load` of text only (the mode is always "t"; `string.dump` is gone), with the
--   script's own environment by default; no `dofile`, `loadfile`, `io`, `debug`,
--   `package` searchers or `os` but its clock;
-- - `pcall`, `xpcall`, `coroutine.resume` and `coroutine.wrap` that raise the
--   stop again once the engine has stopped the script, so it cannot catch it;
-- - `setmetatable` without `__gc` (finalizers run with Lua's hooks off, outside
--   every limit), `collectgarbage` with "collect", "count" and "step" only.

local stopped = ...

local error, type, select, rawget, rawset, setmetatable, getmetatable, pairs, next, load =
  error, type, select, rawget, rawset, setmetatable, getmetatable, pairs, next, load
local pcall, xpcall, collectgarbage = pcall, xpcall, collectgarbage
local co_resume, co_wrap = coroutine.resume, coroutine.wrap
local format = string.format

-- No bytecode anywhere: the engine does not need it either.
string.dump = nil
getmetatable("").__metatable = "string"

local proxies = setmetatable({}, { __mode = "k" })

-- A read-only view of `t`.
local function readonly(t, name)
  local view = setmetatable({}, {
    __index = t,
    __newindex = function(_, k)
      error(format("%s is shared by every script and read-only (tried to set %s)",
        name, tostring(k)), 2)
    end,
    __pairs = function() return next, t, nil end,
    __len = function() return #t end,
    __metatable = false,
  })
  proxies[view] = true
  return view
end

-- Returns what a protected call gave, unless the script was stopped meanwhile.
local function recheck(...)
  local why = stopped()
  if why then error(why, 0) end
  return ...
end

local base = {}
for _, name in ipairs({ "assert", "error", "getmetatable", "ipairs", "next", "pairs",
  "print", "rawequal", "rawget", "rawlen", "select", "tonumber", "tostring", "type",
  "_VERSION" }) do
  base[name] = _G[name]
end

function base.pcall(...) return recheck(pcall(...)) end
-- The stop is raised from inside Lua's hook, where hooks are off: a message
-- handler called for it would run unlimited, so it is not called for a stop.
function base.xpcall(f, handler, ...)
  return recheck(xpcall(f, function(e)
    local why = stopped()
    if why then return why end
    return handler(e)
  end, ...))
end

function base.setmetatable(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("setmetatable: scripts may not set __gc (a finalizer would run outside every limit)", 2)
  end
  return setmetatable(t, mt)
end

function base.rawset(t, k, v)
  if proxies[t] then error("rawset: the shared library tables are read-only", 2) end
  return rawset(t, k, v)
end

function base.collectgarbage(option, ...)
  if option == nil or option == "collect" or option == "count" or option == "step" then
    return collectgarbage(option, ...)
  end
  error(format("collectgarbage: %q is not allowed to scripts (only collect, count, step)",
    tostring(option)), 2)
end

local co = {}
for k, v in pairs(coroutine) do co[k] = v end
function co.resume(...) return recheck(co_resume(...)) end
function co.wrap(f)
  local resume = co_wrap(f)
  return function(...) return recheck(resume(...)) end
end

local views = {}
for name, lib in pairs({ string = string, table = table, math = math, utf8 = utf8,
  os = os, coroutine = co, nmap = nmap, stdnse = stdnse, shortport = shortport,
  rawpacket = rawpacket }) do
  views[name] = readonly(lib, name)
  base[name] = views[name]
end
local loaded = {}
for _, name in ipairs({ "nmap", "stdnse", "shortport", "rawpacket" }) do
  loaded[name] = views[name]
end
base.package = readonly({ loaded = readonly(loaded, "package.loaded") }, "package")

local real_stdnse, real_nmap = stdnse, nmap
local owns = setmetatable({}, { __mode = "k" })

-- A script's environment: its globals over `base`, its own `stdnse` (which knows
-- its name), `load` and `require`.
local function new_env(id)
  local env = {}
  local own = {}
  owns[env] = own
  own.stdnse = readonly(setmetatable({
    get_script_args = function(...) return real_stdnse.__get_script_args(id, ...) end,
    debug = function(...) return real_stdnse.__debug(id, ...) end,
    verbose = function(...) return real_stdnse.__verbose(id, ...) end,
  }, { __index = views.stdnse, __metatable = false }), "stdnse")
  env._G = env
  env.SCRIPT_NAME = id
  env.stdnse = own.stdnse
  env.load = function(chunk, name, _, ...)
    if select("#", ...) > 0 then return load(chunk, name, "t", ...) end
    return load(chunk, name, "t", env)
  end
  env.require = function(name)
    local lib = own[name] or loaded[name]
    if lib == nil then
      error("module '" .. tostring(name) .. "' is not available to scripts here", 2)
    end
    return lib
  end
  return setmetatable(env, { __index = base, __metatable = false })
end

-- Gives the script of `env` an `nmap` whose verbosity() is one above the scan's.
local function raise_verbosity(env)
  local n = readonly(setmetatable({
    verbosity = function() return real_nmap.verbosity() + 1 end,
  }, { __index = views.nmap, __metatable = false }), "nmap")
  owns[env].nmap = n
  env.nmap = n
end

return new_env, raise_verbosity
