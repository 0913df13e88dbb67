-- Takes the lease for owner when nobody holds it: the token is the next
-- value of the fence counter, the lease's value "owner:token".
-- Returns the token, or 0 when the lease is held.
if redis.call('EXISTS', lease) == 1 then return 0 end
local token = redis.call('INCR', fence)
redis.call('SET', lease, owner .. ':' .. token, 'PX', ttlMS)
return token
