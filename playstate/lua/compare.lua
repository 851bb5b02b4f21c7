-- Greater (crt, pos, device) wins; device ids compare bytewise, as in Python and SQL,
-- whatever collation the server's locale would give Lua's '>'.
local function bytes_gt(a, b)
  if a == b then return false end
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end
local function newer(crt, pos, dev, ccrt, cpos, cdev)
  if not ccrt then return true end
  crt, pos, ccrt, cpos = tonumber(crt), tonumber(pos), tonumber(ccrt), tonumber(cpos)
  if crt ~= ccrt then return crt > ccrt end
  if pos ~= cpos then return pos > cpos end
  return bytes_gt(dev, cdev)
end
