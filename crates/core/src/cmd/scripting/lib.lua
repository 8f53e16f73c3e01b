-- The sandbox every script runs in (clusterlab's own code, loaded once per node).
-- Called with: the table of Rust callbacks `impl`, the scripts' globals `G`, debug.getinfo
-- and setfenv. Returns the script environment (a read-only view of G) and the runner.
local impl, G, getinfo, setfenv = ...
local LIB = '@clusterlab_lib'

-- A Rust callback (redis.call, …) fails with a userdata error after leaving the error
-- table Redis would raise in impl.pending.
local function pending_error(err)
  if type(err) == 'userdata' and impl.pending ~= nil then
    err = impl.pending
  end
  impl.pending = nil
  return err
end

-- Where an error came from: the first frame that is neither C nor this library.
local function handler(err)
  local level = 2
  local i = getinfo(level, 'Sl')
  while i and (i.what == 'C' or i.source == LIB) do
    level = level + 1
    i = getinfo(level, 'Sl')
  end
  err = pending_error(err)
  if type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
  end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end

local function readonly(t, k, v)
  error('Attempt to modify a readonly table', 2)
end

local env = setmetatable({}, {
  __index = function(t, k)
    local v = rawget(G, k)
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = readonly,
  __metatable = false,
})
G._G = env

-- Code compiled by a script runs in the same sandbox, and is text: precompiled chunks
-- (which could crash the interpreter) fail as Redis's patched Lua reads them, as text.
local compile = G.loadstring
local function compile_text(s, name)
  if s:byte(1) == 27 then
    local line = s:match('^[^%z\n\r]*')
    return nil, '[string "' .. line .. '"]:1: unexpected symbol near \'char(27)\''
  end
  local f, e = compile(s, name)
  if f then setfenv(f, env) end
  return f, e
end
G.loadstring = function(s, name)
  if type(s) ~= 'string' then return compile(s, name) end
  return compile_text(s, name)
end
G.load = function(reader, name)
  if type(reader) ~= 'function' then return compile(reader, name) end
  local pieces = {}
  while true do
    local piece = reader()
    if piece == nil or piece == '' then break end
    pieces[#pieces + 1] = piece
  end
  return compile_text(table.concat(pieces), name or '=(load)')
end

-- A script's pcall sees the message of an error table, as in Redis.
local plain_pcall = G.pcall
local function unwrap(ok, ...)
  if ok then return ok, ... end
  local e = pending_error((...))
  if type(e) == 'table' and type(e.err) == 'string' then e = e.err end
  return false, e
end
G.pcall = function(f, ...) return unwrap(plain_pcall(f, ...)) end

-- math.random over the node's lrand48 stream (clusterlab's port of Lua's own).
local floor = G.math.floor
local function toint(x)
  x = tonumber(x)
  if x == nil then error('bad argument (number expected)', 3) end
  if x >= 0 then return floor(x) end
  return -floor(-x)
end
G.math.random = function(...)
  local n = select('#', ...)
  local r = impl.rand()
  if n == 0 then return r end
  if n == 1 then
    local u = toint((...))
    if u < 1 then error("bad argument #1 to 'random' (interval is empty)", 2) end
    return floor(r * u) + 1
  end
  if n == 2 then
    local l, u = toint((...)), toint(select(2, ...))
    if l > u then error("bad argument #2 to 'random' (interval is empty)", 2) end
    return floor(r * (u - l + 1)) + l
  end
  error('wrong number of arguments', 2)
end
G.math.randomseed = function(seed) impl.seed(toint(seed)) end

-- Scripts see the library tables through read-only views, so that no script changes what
-- the next one finds (Redis makes them read-only; here `pairs` over one finds nothing).
-- The real redis table, where each call's callbacks go.
local redis = G.redis
local LIBRARIES = {'redis', 'string', 'table', 'math', 'coroutine', 'bit', 'cjson', 'cmsgpack',
  'struct'}
for _, name in ipairs(LIBRARIES) do
  G[name] = setmetatable({}, {__index = G[name], __newindex = readonly, __metatable = false})
end

-- Runs f(...) under the error handler, with this call's callbacks (`call`, `pcall`,
-- `setresp`, `log`, `set_repl`) in the redis table for the call only.
local function run(f, callbacks, ...)
  for k, v in pairs(callbacks) do rawset(redis, k, v) end
  local n, args = select('#', ...), {...}
  local ok, res = xpcall(function() return f(unpack(args, 1, n)) end, handler)
  for k in pairs(callbacks) do rawset(redis, k, nil) end
  impl.pending = nil
  return ok, res
end

-- FUNCTION LOAD: while a library's top level runs, its environment shows only the load API
-- (`redis` with register_function, log and the constants); afterwards the same environment
-- (its functions keep it) shows the globals, as `env` does.
local load_api = {}
local load_env = setmetatable({}, {
  __index = function(t, k)
    local v
    if load_api.redis ~= nil then v = rawget(load_api, k) else v = rawget(G, k) end
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = readonly,
  __metatable = false,
})

-- Runs a library's code with `api` as its `redis` table.
local function load_library(f, api)
  load_api.redis = api
  local ok, res = xpcall(f, handler)
  load_api.redis = nil
  impl.pending = nil
  return ok, res
end

return env, run, load_env, load_library
