-- Rewrites the mapping inputs entries of some users of a partition from
-- their records (KEYS from records on, ARGV from users on: the same users
-- in the same order). Returns how many.
for i = records, #KEYS do
  local user = ARGV[users + i - records]
  local vmax, status, email, eid, extension, dirID, dirRule, dirSum = unpack(redis.call('HMGET', KEYS[i],
    'vmax', 'user_status', 'email', 'employee_unique_id', 'extension', 'dir_id', 'dir_rule', 'dir_sum'))
  if vmax and status ~= 'deleted' then
    redis.call('HSET', mappingInputs, user, packInputs({status, email, eid, extension, dirID, dirRule, dirSum}))
  else
    redis.call('HDEL', mappingInputs, user)
  end
end
return #KEYS - records + 1
