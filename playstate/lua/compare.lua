-- core.domain.ordering_key: greater (significant, crt, pos, device, event, duration) wins.
-- Strings compare bytewise, as in Python and SQL, whatever collation the server's locale
-- gives '>'.
local function bytes_gt(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end
local function num(value)
  if not value or value == '' then return -1 end
  return tonumber(value)
end
-- A hash written before 'sig' existed: significant when past the threshold (no marks then).
local function sig_of(sig, pos, threshold)
  if sig then return sig end
  return num(pos) >= tonumber(threshold) and '1' or '0'
end
-- new and cur are {sig, crt, pos, dev, evt, dur} as stored in the hash; cur[2] false: no
-- state yet.
local function newer(new, cur, threshold)
  if not cur[2] then return true end
  cur[1] = sig_of(cur[1], cur[3], threshold)
  for i = 1, 6 do
    local a, b = new[i], cur[i]
    if i == 4 or i == 5 then
      if a ~= b then return bytes_gt(a, b) end
    else
      a, b = num(a), num(b)
      if a ~= b then return a > b end
    end
  end
  return false
end
