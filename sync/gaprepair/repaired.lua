-- Clears the record once a repair from startMS or earlier completed: a
-- gap recorded meanwhile with an earlier start stays.
local cur = redis.call('GET', repairFrom)
if cur and tonumber(cur) >= tonumber(startMS) then redis.call('DEL', repairFrom) end
return 1
