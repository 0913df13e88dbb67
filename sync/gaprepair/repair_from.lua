-- Keeps the earliest start of a gap whose repair has not completed
-- (0: a gap whose start is unknown, earlier than any).
local cur = redis.call('GET', repairFrom)
if not cur or tonumber(startMS) < tonumber(cur) then redis.call('SET', repairFrom, startMS) end
return 1
