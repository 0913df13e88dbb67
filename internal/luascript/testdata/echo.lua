-- Answers its slots by name, then the rest of KEYS and ARGV.
local out = {counter, user, tostring(seq), greeting, tostring(limit), tostring(sizes.a + sizes.b), names.x .. names.w}
for i = keysRest, #KEYS do out[#out+1] = KEYS[i] end
for i = argsRest, #ARGV do out[#out+1] = ARGV[i] end
redis.call('INCR', counter)
return out
