-- Apply a batch of heartbeats: last write wins per title, atomically; schedule each new
-- winner in the pending set (due a year ago for PAUSE/STOP/SEEK, so they are claimed before
-- any plain title; at the title's point in the window otherwise, AG.due).
-- Token buckets, in the same call: plain heartbeats spend from their profile's bucket;
-- every heartbeat spends from the hard per-profile and per-account ceilings (on a Redis
-- Cluster the account's is in another slot: the caller takes it, account_ceiling is 0).
-- A call may carry the heartbeats of several requests, of any profiles and accounts (on one
-- Redis, those a web process takes in one turn of its event loop: hotlayer.ingest).
-- Expiries: a title's hash carries 'exp', when its expiry was last pushed out to, so a
-- heartbeat renews it (and the profile's recent set with it) about once per tenth of the
-- ttl, rather than a PTTL or PEXPIRE each time.
-- KEYS: K, then per title KG and KI for each of its heartbeats. ARGV: A, then per title AG
-- and AI for each of its heartbeats (AG.items of them), then counter pairs (field, amount)
-- added, with the outcome's, to the counters when A.counting is 1 (one Redis; on a cluster
-- the caller counts). The layouts are named in playstate/scripts.py.
-- Every heartbeat taken (applied or stale) is also a resume point of the title: a stale one
-- kept in the title's versions at once, the state when it is replaced (versions.lua;
-- core/versions.py makes the list).
-- Returns per heartbeat 0 duplicate, 1 applied, 2 stale, 3 cold, 4 rate limited; then
-- whether to nudge a worker; then per heartbeat the milliseconds until it would pass (0
-- unless limited).
-- (compare.lua, buckets.lua and versions.lua are prepended)
local now, n = tonumber(ARGV[A.now]), tonumber(ARGV[A.items])
local hot_ttl, event_ttl = tonumber(ARGV[A.hot_ttl]) * 1000, ARGV[A.event_ttl]
local threshold, versions_ttl = ARGV[A.ignore_start], tonumber(ARGV[A.versions_ttl]) * 1000
local hard_profile, hard_account = tonumber(ARGV[A.profile_ceiling]), tonumber(ARGV[A.account_ceiling])
local out, waits, counts, nudge = {}, {}, {0, 0, 0, 0, 0}, 0
local pending = KEYS[K.pending]
local URGENT_AHEAD_MS = 365 * 86400000
local HOUR_MS = 3600000
local hour = math.floor(now / HOUR_MS)

-- What the profile sent this hour, and how much of it was limited (the admin shows both).
local function tally(limits, limited)
  if limits.h ~= hour then
    local last = limits.h == hour - 1
    limits.ps, limits.pl = last and limits.s or 0, last and limits.l or 0
    limits.h, limits.s, limits.l = hour, 0, 0
  end
  limits.s = (limits.s or 0) + 1
  if limited then limits.l = (limits.l or 0) + 1 end
end

-- Whether a key whose expiry was last pushed out to `exp` (nil: never) is within a tenth of
-- `ttl_ms` of running out, and due a renewal.
local function expiring(exp, ttl_ms)
  return (exp or 0) < now + ttl_ms * 0.9
end

-- Each title's state as the call goes: read once, written back once after the loop (a batch
-- is mostly one device's buffered heartbeats of one title). Its fields as in the hash (sig,
-- crt, pos, dev, evt, dur, exp, fgt: 1 to 8), then what the call did to it.
local titles = {}
local function title_state(hot)
  local title = titles[hot]
  if not title then
    title = redis.call('HMGET', hot, 'sig', 'crt', 'pos', 'dev', 'evt', 'dur', 'exp', 'fgt')
    -- The state's fields to write (by STATE_FIELDS' index): a hash from before 'sig' existed
    -- gets it with its next state.
    title.changed = {title[1] == false}
    titles[hot] = title
  end
  return title
end

-- The writes of the titles the call changed (or whose expiry it pushed out): of a state's
-- fields, those that differ from the hash's (a steady heartbeat moves its time and position;
-- its device, event and duration stay, and are not written again).
local STATE_FIELDS = {'sig', 'crt', 'pos', 'dev', 'evt', 'dur'}
local function save_titles()
  for hot, title in pairs(titles) do
    local fields = {}
    if title.applied then
      for j = 1, 6 do
        if title.changed[j] then
          fields[#fields + 1] = STATE_FIELDS[j]
          fields[#fields + 1] = title[j]
        end
      end
      -- 'at': when it arrived (server time), for a catch-up to replay a late arrival.
      fields[#fields + 1] = 'at'
      fields[#fields + 1] = now
      -- A new title is not hidden; an existing one keeps its hiding mark.
      if title.created then fields[#fields + 1] = 'hid'; fields[#fields + 1] = '0' end
    end
    if title.renew then fields[#fields + 1] = 'exp'; fields[#fields + 1] = title[7] end
    if #fields > 0 then redis.call('HSET', hot, unpack(fields)) end
    if title.applied then
      -- The recent set outlives every title in it: renewed with each (below), and when it
      -- grows.
      if redis.call('ZADD', title.recent, title[2], title.movie) == 1 and not title.renew then
        redis.call('PEXPIRE', title.recent, hot_ttl)
      end
      if redis.call('ZADD', pending, 'LT', 'CH', title.due, title.member) == 1 and title.urgent then
        nudge = 1
      end
    end
    if title.renew then
      redis.call('PEXPIRE', hot, hot_ttl)
      redis.call('PEXPIRE', title.recent, hot_ttl)
    end
  end
end

-- The call's titles in turn, each with its heartbeats (a batch is mostly one title's, whose
-- names, limits and schedule then come once, not with each heartbeat).
local k, a, i = K_N + 1, A_N + 1, 0
while i < n do
  local hot, recent, versions = KEYS[k + KG.hot], KEYS[k + KG.recent], KEYS[k + KG.versions]
  local limits_key, account_key = KEYS[k + KG.limits], KEYS[k + KG.account]
  local items, dur = tonumber(ARGV[a + AG.items]), ARGV[a + AG.dur]
  local cold = ARGV[a + AG.may_create] == '0'
  local burst, per_minute = tonumber(ARGV[a + AG.burst]), tonumber(ARGV[a + AG.per_minute])
  local movie, member, title_due = ARGV[a + AG.movie], ARGV[a + AG.member], tonumber(ARGV[a + AG.due])
  local title, limits, account = title_state(hot), nil, nil
  k, a = k + KG_N, a + AG_N
  for _ = 1, items do
    local pos, crt, dev = ARGV[a + AI.pos], ARGV[a + AI.crt], ARGV[a + AI.dev]
    local evt, sig = ARGV[a + AI.evt], ARGV[a + AI.sig]
    local urgent = ARGV[a + AI.urgent] == '1'
    local code, wait = nil, 0
    if cold and not title[2] then
      -- Cold title: the caller reads the store through first, so a late heartbeat cannot
      -- put a state older than the stored one into the cache.
      code = 3
    else
      limits = limits or bucket_state(limits_key, math.max(2 * HOUR_MS, math.ceil(burst * 60000 / per_minute) + 60000))
      local given, short = 1, 0
      if hard_account > 0 then account = account or bucket_state(account_key, ACCOUNT_TTL_MS) end
      if not urgent then given, short = spend(limits, 'b', burst, per_minute, 1, now) end
      if given == 1 then given, short = spend(limits, 'c', hard_profile, hard_profile, 1, now) end
      if given == 1 and account then given, short = spend(account, 'c', hard_account, hard_account, 1, now) end
      tally(limits, given == 0)
      if given == 0 then
        code, wait = 4, short
      elseif ARGV[a + AI.event_id] ~= '' and not redis.call('SET', KEYS[k + KI.event], '1', 'NX', 'EX', event_ttl) then
        code = 0
      else
        title.recent = recent
        if expiring(tonumber(title[7]), hot_ttl) then
          title[7] = now + hot_ttl
          title.renew = true
        end
        local state = {sig, crt, pos, dev, evt, dur}
        if newer(state, title, threshold) then
          leaving(versions, title, title[8], state)
          if not title[2] then title.created = true end
          for j = 1, 6 do
            if title[j] ~= state[j] then
              title.changed[j] = true
              title[j] = state[j]
            end
          end
          title.applied, title.movie, title.member = true, movie, member
          -- PAUSE/STOP/SEEK go ahead of every plain title, overdue ones included: a device
          -- hears of a pause promptly even while the workers work through a backlog.
          local due = urgent and now - URGENT_AHEAD_MS or title_due
          if not title.due or due < title.due then title.due = due end
          title.urgent = title.urgent or urgent
          code = 1
        else
          code = 2
          remember(versions, crt, pos, dev, evt)
        end
      end
    end
    i = i + 1
    out[i], waits[i] = code, wait
    counts[code + 1] = counts[code + 1] + 1
    k, a = k + KI_N, a + AI_N
  end
end
save_titles()
save_versions(versions_ttl)
save_buckets()
if ARGV[A.counting] == '1' then
  local metrics = KEYS[K.metrics]
  local function add(name, amount)
    if tonumber(amount) ~= 0 then redis.call('HINCRBY', metrics, name, amount) end
  end
  add('heartbeats_duplicate', counts[1])
  add('heartbeats_applied', counts[2])
  add('heartbeats_stale', counts[3])
  add('heartbeats_rate_limited', counts[5])
  for j = a, #ARGV, 2 do add(ARGV[j], ARGV[j + 1]) end
end
out[n + 1] = nudge
for i = 1, n do out[n + 1 + i] = waits[i] end
return out
