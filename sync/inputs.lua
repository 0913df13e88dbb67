-- The mapping inputs of a user as the partition's inputs hash holds them
-- (see inputs.go). Part of the apply and rebuild scripts.
local inputPos = {user_status = 1, email = 2, employee_unique_id = 3, extension = 4, dir_id = 5, dir_rule = 6, dir_sum = 7}
local function packInputs(a) -- a: the values by position; missing ones are nil or false
  for i = 1, 7 do
    a[i] = a[i] or ''
  end
  for i = 1, 7 do
    if string.find(a[i], '\31', 1, true) then return cjson.encode(a) end -- a value holding the separator: JSON
  end
  local s = table.concat(a, '\31', 1, 7)
  if string.byte(s, 1) == 91 then return cjson.encode(a) end -- starts with '[' as JSON does: JSON
  return s
end
