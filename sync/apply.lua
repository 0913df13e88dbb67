-- The apply script: writes a merged batch of facts of several users of one
-- partition, recomputes each one's effective status and queues a change
-- for the targets, keeps the indices and the mapping inputs, and
-- acknowledges the inbox entries the batch came from — all in one atomic
-- step (see applyScript in store.go for what it promises).
--
-- Slots (applyKeys, applyArgs in store.go): the fixed keys by name; KEYS
-- from dueKeys on are the targets' due zsets (ntargets of them, the ndir
-- that receive directory data first), then per user its record and its
-- history list. ARGV from ackIDs on are the nack inbox entry ids, then
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
-- Drops a history list's entries older than cutoff (its tail: the list is
-- newest first) and keeps at most maxHistoryEntries. Reads the tail 32
-- entries at a time (LRANGE, LTRIM: the commands the ACL of
-- docs/OPERATIONS.md grants).
local function trimHistory(hist, cutoff)
  redis.call('LTRIM', hist, 0, maxHistoryEntries - 1)
  local drop = 0
  while true do
    local tail = redis.call('LRANGE', hist, -(drop + 32), -(drop + 1))
    local old = 0
    for i = #tail, 1, -1 do -- oldest first
      if tonumber(string.match(tail[i], '^(%d+)|') or '0') >= cutoff then break end
      old = old + 1
    end
    drop = drop + old
    if #tail == 0 or old < #tail then break end
  end
  if drop > 0 then redis.call('LTRIM', hist, 0, -(drop + 1)) end
end
local result = {}
-- Said once per call, not per user: the users whose record changed (one
-- change-feed message, zsync.ParseChanges) and whether the doorbell rings.
local changedUsers, ring = {}, false
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
  -- gpos: where a version group's version is in cur (versiongroups.go).
  local vpos, dpos, asked, gpos = {}, {}, {}, {}
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
      local g = versionGroup[f]
      if g and not gpos[g] then
        ask[#ask+1] = groupVersionPrefix .. g
        gpos[g] = #ask
      end
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
  -- The applied fields (each once, in order), their new versions, and
  -- whether each had an override (its own version field) before.
  local vfields, vers, hadOv, napplied = {}, {}, {}, 0
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
      local current = cur[vpos[j]] -- the field's override, else its group's version
      if not current and versionGroup[field] then current = cur[gpos[versionGroup[field]]] end
      if not current or version > tonumber(current) then
        if hadOv[field] == nil then
          hadOv[field] = cur[vpos[j]] ~= false
          vfields[#vfields+1] = field
        end
        vers[field] = ARGV[i+1]
        napplied = napplied + 1
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
        if not derived(field) then
          if version > vmax then vmax = version end
          if version > newest then newest = version end
        end
      end
    end
  end
  a = a + 3*nfields
  local applied = napplied + callsApplied
  -- Versions (versiongroups.go): a group whose every field this write
  -- applied, all with one version, takes that version and its fields
  -- lose their overrides; every other applied field gets its own.
  if napplied > 0 then
    local gver, gcount = {}, {}
    for _, f in ipairs(vfields) do
      local g = versionGroup[f]
      if g then
        if gcount[g] == nil then
          gver[g], gcount[g] = vers[f], 1
        elseif gver[g] == vers[f] then
          gcount[g] = gcount[g] + 1
        else
          gcount[g] = -1 / 0 -- mixed versions: the group stays
        end
      end
    end
    local stale = {}
    for _, f in ipairs(vfields) do
      local g = versionGroup[f]
      if g and gcount[g] == versionGroupSize[g] then
        if hadOv[f] then stale[#stale+1] = 'v:' .. f end
        if gver[g] then
          set[#set+1] = groupVersionPrefix .. g; set[#set+1] = gver[g]
          gver[g] = nil -- said once
        end
      else
        set[#set+1] = 'v:' .. f; set[#set+1] = vers[f]
      end
    end
    if #stale > 0 then
      -- A record written before version groups: its key and account
      -- fields (the key's name says both) go too.
      stale[#stale+1] = 'key'; stale[#stale+1] = 'account'
      redis.call('HDEL', rec, unpack(stale))
    end
  end
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
        -- History: one packed entry "at|seq|status|previous" at the head
        -- of the user's list (history.go), the list expiring a window after
        -- its last change; entries older than the window are dropped from
        -- the tail every historyTrimEvery changes.
        redis.call('LPUSH', hist, at .. '|' .. seq .. '|' .. eff .. '|' .. prev)
        redis.call('PEXPIRE', hist, historyMS)
        if seq % historyTrimEvery == 0 then trimHistory(hist, at - historyMS) end
        redis.call('HSET', outbox, user, seq .. '|' .. eff .. '|' .. prev .. '|' .. at)
        for t = dueKeys, dueKeys + ntargets - 1 do redis.call('ZADD', KEYS[t], at, user) end
        if ntargets > 0 then ring = true end
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
        ring = true
      end
    end
    set[#set+1] = 'vmax'; set[#set+1] = string.format('%d', vmax)
    if presenceAt and status ~= 'deleted' then
      set[#set+1] = 'confirmed_at'; set[#set+1] = tostring(presenceAt)
    end
    redis.call('HSET', rec, unpack(set))
    -- A record joins its partition's members when it is created; members
    -- are never removed but by a purge, so a record that exists is one.
    if not cur[iVmax] then redis.call('SADD', members, user) end
    -- Every replica's read model (and through it the board's stream)
    -- hears of every record that changed: a status, a name, an email, an
    -- extension, a link. The model re-reads the user. Said once per call
    -- (one change-feed message, zsync.FormatChanges).
    changedUsers[#changedUsers+1] = account .. '\t' .. user
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
      -- Only a tombstone expires: a record that was not one has no TTL.
      if cur[iUserStatus] == 'deleted' or not cur[iVmax] then redis.call('PERSIST', rec) end
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
if #changedUsers > 0 then
  redis.call('PUBLISH', presenceChannel, table.concat(changedUsers, '\n'))
end
if ring then
  redis.call('LPUSH', doorbell, '1')
  redis.call('LTRIM', doorbell, 0, 0)
end
if nack > 0 then
  redis.call('XACK', inbox, group, unpack(ARGV, ackIDs, ackIDs + nack - 1))
end
return result
