-- Records that a change was delivered (or skipped, or dead-lettered) for
-- a target and takes the user off the target's schedule unless a newer
-- change arrived meanwhile. Returns 1 when taken off, 0 when still due.
local seqN = tonumber(seq)
if seqN > tonumber(redis.call('HGET', sent, user) or '0') then redis.call('HSET', sent, user, seq) end
redis.call('HDEL', failing, user)
local out = redis.call('HGET', outbox, user)
local latest = out and tonumber(string.match(out, '^(%d+)|')) or 0
if latest <= seqN then
  redis.call('ZREM', due, user)
  return 1
end
return 0
