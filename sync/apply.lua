-- The apply script: writes a merged batch of facts of several users of one
-- partition, recomputes each one's effective status and queues a change
-- for the targets, keeps the indices and the mapping inputs, and
-- acknowledges the inbox entries the batch came from — all in one atomic
-- step (see applyScript in store.go for what it promises).
--
-- Slots (applyKeys, applyArgs in store.go): the fixed keys by name; KEYS
-- from dueKeys on are the targets' due zsets (ntargets of them, the ndir
-- that receive directory data first), then per user its record and its
-- history stream. ARGV from ackIDs on are the nack inbox entry ids, then
-- per user: its key, its field count, and (field, version, value)
-- triples. Runs after inputs.lua and calls.lua.
--
-- Positions in cur (the record's fields read at once):
local iVmax, iEmail, iExtension, iUserStatus, iPresence, iCallState, iStatus, iStatusSeq = 1, 2, 3, 4, 5, 6, 7, 8
local iEmployeeUID, iDirID, iDirRule, iDirSum = 9, 10, 11, 12
local ttl = tonumber(tombstoneMS)
historyMS, ntargets, ndir, nack = tonumber(historyMS), tonumber(ntargets), tonumber(ndir), tonumber(nack)
local function reindex(index, user, old, new)
  if old and old ~= '' and old ~= new and redis.call('HGET', index, old) == user then
    redis.call('HDEL', index, old)
  end
  if new ~= '' then redis.call('HSET', index, new, user) end
end
local function derived(f) return f == 'mapping' or string.sub(f, 1, 4) == 'dir_' end
-- The directory fields a push carries (target.Directory).
local pushedDir = {dir_id = true, dir_dn = true, dir_uid = true, dir_employee_number = true}
-- presence.Effective, in Lua.
local function effective(userStatus, callState, presence)
  if userStatus == 'inactive' or userStatus == 'deleted' or userStatus == 'pending' then return 'offline' end
  if callState == 'on_call' then return 'on_call' end
  if presence and presence ~= '' then return presence end
  return 'unknown'
end
local result = {}
local first = dueKeys + ntargets
local a = ackIDs + nack
for u = first, #KEYS, 2 do
  local rec, hist = KEYS[u], KEYS[u+1]
  local user, nfields = ARGV[a], tonumber(ARGV[a+1])
  a = a + 2
  -- One read of everything the comparisons need, one write of the result:
  -- each redis.call costs about a microsecond, a user has a dozen fields.
  local ask = {'vmax', 'email', 'extension', 'user_status', 'presence', 'call_state', 'status', 'status_seq',
    'employee_unique_id', 'dir_id', 'dir_rule', 'dir_sum'} -- at cur[iVmax] .. cur[iDirSum]
  local derivedOnly, hasCall = true, false
  -- Per field: where its version (and a pushed directory field's value) is in cur.
  local vpos, dpos, asked = {}, {}, {}
  for j = 0, nfields - 1 do
    local f = ARGV[a + 3*j]
    if string.sub(f, 1, 5) == 'call:' then
      hasCall = true
      derivedOnly = false
    elseif asked[f] then -- a duplicate compares with the same slots
      vpos[j], dpos[j] = asked[f][1], asked[f][2]
    else
      if not derived(f) then derivedOnly = false end
      ask[#ask+1] = 'v:' .. f
      vpos[j] = #ask
      if f == 'dir_id' then
        dpos[j] = iDirID
      elseif pushedDir[f] then
        ask[#ask+1] = f
        dpos[j] = #ask
      end
      asked[f] = {vpos[j], dpos[j]}
    end
  end
  local cpos = #ask + 1
  if hasCall then
    ask[#ask+1] = 'calls'; ask[#ask+1] = 'call_id'; ask[#ask+1] = 'v:call_state'
  end
  local cur = redis.call('HMGET', rec, unpack(ask))
  local vmax, email, ext, status = tonumber(cur[iVmax] or '0'), cur[iEmail], cur[iExtension], cur[iUserStatus]
  local presence, callState = cur[iPresence], cur[iCallState]
  local inputs = nil -- the mapping inputs (inputPos order), once one is applied
  local count = nfields
  if derivedOnly and not cur[iVmax] then count = 0 end
  local set = {}
  local newest = 0
  local presenceAt = nil
  local calls, floor, callsApplied, callVersion, openBefore = nil, 0, 0, 0, nil
  local dirAt = nil -- version of a change of the directory data a push carries
  for j = 0, count - 1 do
    local i = a + 3*j
    local field, version, value = ARGV[i], tonumber(ARGV[i+1]), ARGV[i+2]
    if not vpos[j] then -- one call's state
      if not calls then
        calls, floor = readCalls(cur[cpos], callState, cur[cpos+1], cur[cpos+2])
        openBefore = oldestOpen(calls)
      end
      local kind = 'o'
      if value == 'ended' then kind = 'e' end
      if callFact(calls, floor, string.sub(field, 6), version, kind) then
        callsApplied = callsApplied + 1
        if version > callVersion then callVersion = version end
        if version > vmax then vmax = version end
        if version > newest then newest = version end
      end
    else
      local current = cur[vpos[j]]
      if not current or version > tonumber(current) then
        cur[vpos[j]] = ARGV[i+1] -- a later duplicate of the field compares with this one
        if field == 'email' then
          reindex(emailIndex, user, email and string.lower(email), string.lower(value))
          email = value
        elseif field == 'extension' then
          reindex(extensionIndex, user, ext, value)
          ext = value
        elseif field == 'user_status' then
          status = value
        elseif field == 'presence' then
          presence, presenceAt = value, math.floor(version / 2)
        end
        if dpos[j] and (cur[dpos[j]] or '') ~= value then
          cur[dpos[j]] = value
          dirAt = version
        end
        local ip = inputPos[field]
        if ip then
          inputs = inputs or {status, email, cur[iEmployeeUID], ext, cur[iDirID], cur[iDirRule], cur[iDirSum]}
          inputs[ip] = value
        end
        set[#set+1] = field
        set[#set+1] = value
        set[#set+1] = 'v:' .. field
        set[#set+1] = ARGV[i+1]
        if not derived(field) then
          if version > vmax then vmax = version end
          if version > newest then newest = version end
        end
      end
    end
  end
  a = a + 3*nfields
  local applied = #set / 4 + callsApplied
  local oldestCall = nil
  if callsApplied > 0 then
    calls, floor, oldestCall = trimCalls(calls, floor)
    if oldestCall then callState = 'on_call' else callState = 'idle' end
    set[#set+1] = 'calls'; set[#set+1] = writeCalls(calls, floor)
    set[#set+1] = 'call_state'; set[#set+1] = callState
    set[#set+1] = 'v:call_state'; set[#set+1] = string.format('%d', callVersion)
    if cur[cpos] == false and cur[cpos+1] then
      redis.call('HDEL', rec, 'call_id', 'v:call_id') -- the form before calls were tracked
    end
  end
  if applied > 0 then
    local eff = effective(status, callState, presence)
    local prev = cur[iStatus] or ''
    local changed = false
    if newest > 0 and eff ~= prev then
      local at = math.floor(newest / 2)
      local seq = tonumber(cur[iStatusSeq] or '0') + 1
      set[#set+1] = 'status'; set[#set+1] = eff
      set[#set+1] = 'status_since'; set[#set+1] = tostring(at)
      set[#set+1] = 'status_seq'; set[#set+1] = tostring(seq)
      -- A new user of whom nothing is known yet ("" to unknown) is not news:
      -- no history entry, nothing to push.
      if prev ~= '' or eff ~= 'unknown' then
        changed = true
        redis.call('XADD', hist, 'MINID', '~', tostring(math.max(at - historyMS, 0)), '*', 'status', eff, 'previous', prev, 'at', tostring(at), 'seq', tostring(seq))
        redis.call('PEXPIRE', hist, historyMS)
        redis.call('HSET', outbox, user, seq .. '|' .. eff .. '|' .. prev .. '|' .. at)
        for t = dueKeys, dueKeys + ntargets - 1 do redis.call('ZADD', KEYS[t], at, user) end
        if ntargets > 0 then
          redis.call('LPUSH', doorbell, '1')
          redis.call('LTRIM', doorbell, 0, 0)
        end
      end
    end
    -- The directory data a push carries changed (a link appeared, changed
    -- or went) and the status did not: the targets that receive directory
    -- data (the first ndir) get the queued change once more, with a new
    -- seq and the same status, previous status and since. Not a status
    -- change: no history entry, status_since stays.
    if dirAt and not changed and ndir > 0 then
      local out = redis.call('HGET', outbox, user)
      local rest = out and string.match(out, '^%d+(|.*)$')
      if rest then
        local seq = tonumber(cur[iStatusSeq] or '0') + 1
        set[#set+1] = 'status_seq'; set[#set+1] = tostring(seq)
        redis.call('HSET', outbox, user, seq .. rest)
        local at = math.floor(dirAt / 2)
        for t = dueKeys, dueKeys + ndir - 1 do redis.call('ZADD', KEYS[t], at, user) end
        redis.call('LPUSH', doorbell, '1')
        redis.call('LTRIM', doorbell, 0, 0)
      end
    end
    set[#set+1] = 'key'; set[#set+1] = user
    set[#set+1] = 'account'; set[#set+1] = account
    set[#set+1] = 'vmax'; set[#set+1] = string.format('%d', vmax)
    redis.call('HSET', rec, unpack(set))
    redis.call('SADD', members, user)
    -- Every replica's read model (and through it the board's stream)
    -- hears of every record that changed: a status, a name, an email, an
    -- extension, a link. The model re-reads the user.
    redis.call('PUBLISH', presenceChannel, account .. '\t' .. user)
    if inputs or not cur[iVmax] then
      if status == 'deleted' then
        redis.call('HDEL', mappingInputs, user)
      else
        redis.call('HSET', mappingInputs, user, packInputs(inputs or {status, email, cur[iEmployeeUID], ext, cur[iDirID], cur[iDirRule], cur[iDirSum]}))
      end
    end
    if status == 'deleted' then
      redis.call('PEXPIRE', rec, ttl)
      redis.call('ZREM', freshness, user)
      redis.call('ZREM', openCalls, user)
    else
      redis.call('PERSIST', rec)
      if presenceAt then
        redis.call('HSET', rec, 'confirmed_at', tostring(presenceAt))
      end
      -- Only active users' presence is worth re-reading.
      if status ~= 'active' then
        redis.call('ZREM', freshness, user)
      elseif presenceAt then
        redis.call('ZADD', freshness, presenceAt, user)
      else
        redis.call('ZADD', freshness, 'NX', 0, user) -- never confirmed: read it soon
      end
      -- The open-calls index: when the user's oldest open call began (a
      -- ring missed while on another call, the commonest event of a
      -- queue, leaves it as it was).
      if callsApplied > 0 and oldestCall ~= openBefore then
        if oldestCall then redis.call('ZADD', openCalls, math.floor(oldestCall / 2), user) else redis.call('ZREM', openCalls, user) end
      end
    end
  end
  result[#result+1] = applied
end
if nack > 0 then
  redis.call('XACK', inbox, group, unpack(ARGV, ackIDs, ackIDs + nack - 1))
end
return result
