-- The mapping inputs of a user as the partition's inputs hash holds them
-- (see inputs.go). Part of the apply and rebuild scripts.
local inputPos = {user_status = 1, email = 2, employee_unique_id = 3, extension = 4, dir_id = 5, dir_rule = 6, dir_sum = 7}
local function packInputs(a) -- a: the values by position; missing ones are nil or false
  for i = 1, 7 do a[i] = a[i] or '' end
  return cjson.encode(a)
end
