-- Shared head of every fleet script (scripts.rs joins it to each body).
-- KEYS: 1 state hash, 2 window hash, 3 failing-instances zset, 4 members
-- zset, 5 configuration fingerprints hash (one hash tag, so one slot).
-- ARGV 1..17 are the breaker's parameters (see `Params` in store/mod.rs);
-- ARGV 18.. belong to the body.
-- Every decision reads the server's TIME, never an instance's clock.
local A = ARGV
local function int(n) return string.format('%d', n) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local f = redis.call('HMGET', KEYS[1], 'epoch', 'state', 'gen', 'open_until', 'trips',
  'inflight', 'lease_until', 'ho_ok', 'last_now', 'cmd')
local epoch, state, gen, open_until, trips, inflight, lease_until, ho_ok, last_now, cmd
if f[1] then
  epoch = f[1]
  state, gen, open_until, trips = tonumber(f[2]), tonumber(f[3]), tonumber(f[4]), tonumber(f[5])
  inflight, lease_until, ho_ok = tonumber(f[6]), tonumber(f[7]), tonumber(f[8])
  last_now, cmd = tonumber(f[9]), tonumber(f[10])
else
  -- No state (first use, expiry, FLUSHALL): a new epoch, so instances accept
  -- generation numbers that start again from 0.
  epoch = A[1] .. '-' .. int(now)
  state, gen, open_until, trips, inflight, lease_until, ho_ok, last_now, cmd = 0, 0, 0, 0, 0, 0, 0, 0, 0
end
-- TIME may step back after a failover: never decide on an earlier moment.
if now < last_now then now = last_now end
local changed = false

-- The open time of the `n`th consecutive trip: the base, multiplied per trip
-- (in thousandths), in whole milliseconds, capped.
local function open_for(n)
  local o, m, mx = tonumber(A[5]), tonumber(A[6]), tonumber(A[7])
  local i = 2
  while i <= n and i <= 64 and o < mx do
    o = math.floor(o * m / 1000)
    i = i + 1
  end
  if o > mx then o = mx end
  return o
end

local function trip()
  trips = trips + 1
  state, gen, inflight, ho_ok, lease_until = 1, gen + 1, 0, 0, 0
  open_until = now + open_for(trips)
  changed = true
end

local function close()
  state, gen, trips, inflight, ho_ok, open_until, lease_until = 0, gen + 1, 0, 0, 0, 0, 0
  redis.call('DEL', KEYS[2], KEYS[3])
  changed = true
end

-- Moves that time alone makes: an OPEN whose open time has passed becomes
-- HALF_OPEN; a HALF_OPEN whose trials stayed unresolved past their lease
-- reopens (their late results are then fenced by the new generation).
local function settle()
  if state == 1 and now >= open_until then
    state, gen, inflight, ho_ok, lease_until = 2, gen + 1, 0, 0, 0
    changed = true
  elseif state == 2 and inflight > 0 and now >= lease_until then
    trip()
  end
end

-- Writes the state back (every field, with a fresh TTL), publishes a change
-- and returns the view every script answers with, then the body's extras.
local function finish(extra)
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'state', int(state), 'gen', int(gen),
    'open_until', int(open_until), 'trips', int(trips), 'inflight', int(inflight),
    'lease_until', int(lease_until), 'ho_ok', int(ho_ok), 'last_now', int(now), 'cmd', int(cmd))
  redis.call('PEXPIRE', KEYS[1], A[4])
  if changed then
    redis.call('PUBLISH', A[2], int(state) .. '|' .. int(gen) .. '|' .. int(open_until) .. '|' ..
      int(now) .. '|' .. int(cmd) .. '|' .. epoch .. '|' .. A[3])
  end
  local r = {state, gen, open_until, lease_until, now, cmd, epoch}
  for i = 1, #extra do r[#r + 1] = extra[i] end
  return r
end
