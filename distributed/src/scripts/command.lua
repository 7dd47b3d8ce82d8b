-- command: an operator's force open (3), force closed (4) or reset (0),
-- fleet-wide. ARGV 18 the target state.
local target = tonumber(A[18])
state, gen, cmd, inflight, ho_ok, open_until, lease_until = target, gen + 1, cmd + 1, 0, 0, 0, 0
if target == 0 then
  trips = 0
  redis.call('DEL', KEYS[2], KEYS[3])
end
changed = true
return finish({})
