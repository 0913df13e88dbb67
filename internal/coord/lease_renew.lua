-- Extends the lease held by holder ("owner:token"). Returns 1 when
-- extended, 0 when another acquisition holds it (or nobody does).
if redis.call('GET', lease) ~= holder then return 0 end
redis.call('PEXPIRE', lease, ttlMS)
return 1
