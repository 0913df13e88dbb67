-- Deletes the lease if holder ("owner:token") still holds it.
if redis.call('GET', lease) ~= holder then return 0 end
return redis.call('DEL', lease)
