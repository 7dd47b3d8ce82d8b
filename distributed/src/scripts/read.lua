-- read: the current view, changing nothing (for idle breakers and to
-- reconcile after a reconnect). A missing state reads as epoch ''.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local f = redis.call('HMGET', KEYS[1], 'epoch', 'state', 'gen', 'open_until', 'lease_until',
  'last_now', 'cmd')
if not f[1] then return {0, 0, 0, 0, now, 0, ''} end
local last = tonumber(f[6])
if now < last then now = last end
return {tonumber(f[2]), tonumber(f[3]), tonumber(f[4]), tonumber(f[5]), now, tonumber(f[7]), f[1]}
