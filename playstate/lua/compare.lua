-- core.domain.ordering_key: greater (crt, pos, device, event, duration) wins. Strings
-- compare bytewise, as in Python and SQL, whatever collation the server's locale gives '>'.
local function bytes_gt(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end
local function num(value)
  if value == nil or value == '' then return -1 end
  return tonumber(value)
end
-- new and cur are {crt, pos, dev, evt, dur} as stored in the hash; cur[1] nil: no state yet.
local function newer(new, cur)
  if not cur[1] then return true end
  for i = 1, 5 do
    local a, b = new[i], cur[i]
    if i == 3 or i == 4 then
      if a ~= b then return bytes_gt(a, b) end
    else
      a, b = num(a), num(b)
      if a ~= b then return a > b end
    end
  end
  return false
end
