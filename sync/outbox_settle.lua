-- Records that changes were delivered (or skipped, or dead-lettered) for
-- a target and takes each user off the target's schedule unless a newer
-- change arrived meanwhile; a user taken off with a repeat time is put
-- back on the schedule then (a keep-alive re-push). Slots: settleKeys and
-- settleArgs (scripts.go); ARGV from settles on are (user, seq, repeat
-- ms or 0, failing 1 or 0) quadruples: a user not known to be failing has
-- no failure state to clear. Returns, per user, 1 when taken off, 0 when
-- still due.
local out = {}
for i = settles, #ARGV, 4 do
  local user, seq, again = ARGV[i], ARGV[i+1], tonumber(ARGV[i+2])
  local seqN = tonumber(seq)
  if seqN > tonumber(redis.call('HGET', sent, user) or '0') then redis.call('HSET', sent, user, seq) end
  if ARGV[i+3] == '1' then redis.call('HDEL', failing, user) end
  local queued = redis.call('HGET', outbox, user)
  local latest = queued and tonumber(string.match(queued, '^(%d+)|')) or 0
  if latest <= seqN then
    if again > 0 then
      redis.call('ZADD', due, again, user)
    else
      redis.call('ZREM', due, user)
    end
    out[#out+1] = 1
  else
    out[#out+1] = 0
  end
end
return out
