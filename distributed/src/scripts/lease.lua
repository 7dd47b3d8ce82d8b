-- lease: the fleet rate limiter, GCRA on the server's TIME in microseconds.
-- Takes back tokens an instance leased and did not use, charges the calls it
-- admitted on its local share while it had no token, then grants up to
-- `want` tokens: as many as conform now.
-- KEYS: 1 the limiter's hash (field `tat`), 2 its members zset (same tag).
-- ARGV: 1 interval between calls in µs (decimal), 2 burst, 3 want,
-- 4 returned, 5 debt, 6 instance, 7 member TTL in ms.
-- Answers {granted, µs until one more call conforms, live instances}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local T, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local want, returned, debt = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local tat = tonumber(redis.call('HMGET', KEYS[1], 'tat')[1] or '0') or 0
-- Unused tokens free their turns again, but none before now.
if returned > 0 and tat > now then tat = math.max(now, tat - returned * T) end
-- Calls already admitted are charged in full, conforming or not.
tat = math.max(tat, now) + debt * T
local granted = math.floor((now + burst * T - tat) / T)
if granted > want then granted = want end
if granted < 0 then granted = 0 end
tat = tat + granted * T
redis.call('HSET', KEYS[1], 'tat', string.format('%.17g', tat))
-- Kept until the turns are free again (and a second more).
redis.call('PEXPIRE', KEYS[1], math.ceil((tat - now) / 1000) + 1000)
local now_ms = math.floor(now / 1000)
local ttl = tonumber(ARGV[7])
redis.call('ZADD', KEYS[2], now_ms, ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms - ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
local retry = math.max(0, math.ceil(tat - (burst - 1) * T - now))
return {granted, retry, redis.call('ZCARD', KEYS[2])}
