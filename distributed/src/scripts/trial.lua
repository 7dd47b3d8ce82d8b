-- trial: one instance's trial results for a HALF_OPEN generation, and its
-- request for more trial permits.
-- ARGV 18 generation the results belong to, 19 successes, 20 failures,
-- 21 permits returned unused or ignored, 22 permits wanted.
-- Returns the view, then permits granted, 1 if the results were fenced.
settle()
local rgen, r_ok, r_fail, r_free = tonumber(A[18]), tonumber(A[19]), tonumber(A[20]), tonumber(A[21])
local fenced = 0
if r_ok + r_fail + r_free > 0 then
  if state == 2 and rgen == gen then
    if r_fail > 0 then
      trip()
    else
      inflight = math.max(0, inflight - r_ok - r_free)
      ho_ok = ho_ok + r_ok
      if ho_ok >= tonumber(A[9]) then close() end
    end
  else
    fenced = 1
  end
end
local granted = 0
local want = tonumber(A[22])
if state == 2 and want > 0 then
  granted = math.max(0, math.min(want, tonumber(A[8]) - inflight))
  if granted > 0 then
    if inflight == 0 then lease_until = now + tonumber(A[10]) end
    inflight = inflight + granted
  end
end
return finish({granted, fenced})
