-- A user's phone calls, kept in the record's "calls" field (see
-- calls.go): read, apply one fact, trim, write. Part of the apply script.
-- Constants from Go (the prelude): maxOpenCalls, maxEndedCalls,
-- callMemory (in versions: ms·2), maxCallIDLen.
-- calls: a list of {id, version, 'o' or 'e'}; floor: see FieldCalls.
local function readCalls(s, callState, legacyID, legacyVersion)
  local calls, floor = {}, 0
  if s then
    for tok in string.gmatch(s, '%S+') do
      local kind = string.sub(tok, 1, 1)
      if kind == 'f' then
        floor = tonumber(string.sub(tok, 2)) or 0
      else
        local v, id = string.match(tok, '^[oe](%d+):(.+)$')
        if v then calls[#calls+1] = {id, tonumber(v), kind} end
      end
    end
  elseif callState == 'on_call' then
    local id = legacyID
    if not id or #id > maxCallIDLen or not string.match(id, '^[%w%-_%.]+$') then id = '-' end
    calls[1] = {id, tonumber(legacyVersion or '0') or 0, 'o'}
  end
  return calls, floor
end
-- callFact applies one call's state (kind 'o' or 'e') if newer; an end
-- beats an open of the same version. It reports whether it applied.
local function callFact(calls, floor, id, version, kind)
  for _, c in ipairs(calls) do
    if c[1] == id then
      if version > c[2] or (version == c[2] and kind == 'e' and c[3] == 'o') then
        c[2], c[3] = version, kind
        return true
      end
      return false
    end
  end
  if version <= floor then return false end
  calls[#calls+1] = {id, version, kind}
  return true
end
-- trimCalls bounds the calls (oldest first): it returns the kept calls,
-- the new floor and the version of the oldest open call (nil: none).
local function trimCalls(calls, floor)
  table.sort(calls, function(x, y)
    if x[2] ~= y[2] then return x[2] < y[2] end
    return x[1] < y[1]
  end)
  local open, ended, newest = 0, 0, 0
  for _, c in ipairs(calls) do
    if c[3] == 'o' then open = open + 1 else ended = ended + 1 end
    if c[2] > newest then newest = c[2] end
  end
  for _, c in ipairs(calls) do
    if open <= maxOpenCalls then break end
    if c[3] == 'o' then c[3] = 'e'; open = open - 1; ended = ended + 1 end
  end
  local kept, oldestOpen = {}, nil
  for _, c in ipairs(calls) do
    if c[3] == 'e' and (ended > maxEndedCalls or c[2] < newest - callMemory) then
      if c[2] > floor then floor = c[2] end
      ended = ended - 1
    else
      kept[#kept+1] = c
      if c[3] == 'o' and not oldestOpen then oldestOpen = c[2] end
    end
  end
  return kept, floor, oldestOpen
end
local function oldestOpen(calls)
  local v = nil
  for _, c in ipairs(calls) do
    if c[3] == 'o' and (not v or c[2] < v) then v = c[2] end
  end
  return v
end
local function writeCalls(calls, floor)
  local out = {}
  if floor > 0 then out[1] = 'f' .. string.format('%d', floor) end
  for _, c in ipairs(calls) do out[#out+1] = c[3] .. string.format('%d', c[2]) .. ':' .. c[1] end
  return table.concat(out, ' ')
end
