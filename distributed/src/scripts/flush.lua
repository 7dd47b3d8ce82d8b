-- flush: one instance's outcome deltas since its last flush.
-- ARGV 18 instance id, 19 successes, 20 failures, 21 slow calls, 22 the
-- configuration's fingerprint.
-- Returns the view, then window successes, window failures, failing
-- instances, live instances, and the smallest fingerprint other than this
-- one flushed within three windows (0: none), so that while instances
-- disagree on the configuration every one of them hears of it.
settle()
local bms, nb = tonumber(A[11]), tonumber(A[12])
local b = math.floor(now / bms)
local wms = bms * nb
local d_ok, d_fail, d_slow = tonumber(A[19]), tonumber(A[20]), tonumber(A[21])
if d_ok > 0 then redis.call('HINCRBY', KEYS[2], int(b) .. ':s', int(d_ok)) end
if d_fail > 0 then redis.call('HINCRBY', KEYS[2], int(b) .. ':f', int(d_fail)) end
-- Slow calls are also successes or failures; they count apart for the
-- slow-call rule, and make their instance a failing one too.
if d_slow > 0 then redis.call('HINCRBY', KEYS[2], int(b) .. ':l', int(d_slow)) end
if d_fail > 0 or (d_slow > 0 and tonumber(A[17]) > 0) then
  redis.call('ZADD', KEYS[3], int(now), A[18])
end
redis.call('ZADD', KEYS[4], int(now), A[18])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', int(now - wms))
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', int(now - 3 * wms))
local ok, fail, slow = 0, 0, 0
local kv = redis.call('HGETALL', KEYS[2])
for i = 1, #kv, 2 do
  local idx, kind = string.match(kv[i], '^(%d+):([sfl])$')
  idx = tonumber(idx)
  if idx == nil or idx <= b - nb then
    redis.call('HDEL', KEYS[2], kv[i])
  elseif kind == 's' then
    ok = ok + tonumber(kv[i + 1])
  elseif kind == 'f' then
    fail = fail + tonumber(kv[i + 1])
  else
    slow = slow + tonumber(kv[i + 1])
  end
end
local failing = redis.call('ZCARD', KEYS[3])
local live = redis.call('ZCARD', KEYS[4])
local quorum = tonumber(A[16])
if quorum == 0 then quorum = math.min(2, live) end
if state == 0 and failing >= quorum then
  local total = ok + fail
  local rate, count, slow_rate = tonumber(A[14]), tonumber(A[15]), tonumber(A[17])
  local enough = total >= tonumber(A[13])
  if (rate > 0 and enough and fail * 1000000 >= rate * total)
     or (count > 0 and fail >= count)
     or (slow_rate > 0 and enough and slow * 1000000 >= slow_rate * total) then
    trip()
  end
end
redis.call('PEXPIRE', KEYS[2], int(wms + bms))
redis.call('PEXPIRE', KEYS[3], int(wms))
redis.call('PEXPIRE', KEYS[4], int(3 * wms))
redis.call('HSET', KEYS[5], A[22], int(now))
local other = 0
local cf = redis.call('HGETALL', KEYS[5])
for i = 1, #cf, 2 do
  if tonumber(cf[i + 1]) <= now - 3 * wms then
    redis.call('HDEL', KEYS[5], cf[i])
  elseif cf[i] ~= A[22] and (other == 0 or tonumber(cf[i]) < other) then
    other = tonumber(cf[i])
  end
end
redis.call('PEXPIRE', KEYS[5], int(3 * wms))
return finish({ok, fail, failing, live, other})
