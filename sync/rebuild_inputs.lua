-- Rewrites the mapping inputs entries of some users of a partition from
-- their records (KEYS from records on, ARGV from users on: the same users
-- in the same order). Returns how many.
for i = records, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'vmax', 'user_status', 'email', 'employee_unique_id', 'extension', 'dir_id', 'dir_rule', 'dir_sum')
  if v[1] and v[2] ~= 'deleted' then
    redis.call('HSET', mappingInputs, ARGV[users + i - records], packInputs({v[2], v[3], v[4], v[5], v[6], v[7], v[8]}))
  else
    redis.call('HDEL', mappingInputs, ARGV[users + i - records])
  end
end
return #KEYS - records + 1
