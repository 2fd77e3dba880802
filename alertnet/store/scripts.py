"""Lua scripts that make delivery state changes atomic (one script call moves many deliveries)."""

from __future__ import annotations

# KEYS[1] = delivery hash of one (alert, channel), KEYS[2] = the alert's counts hash, KEYS[3] (optional) =
# the deployment-wide metrics hash ("channel|state" -> deliveries that entered it; the slot's wave cut off).
# ARGV[1] = channel, ARGV[2] = now, ARGV[3] = claimed-before cutoff for 'sending' (or '0'),
# ARGV[4] = the provider-id index's key prefix ('' for none), ARGV[5] = its entries' lifetime in seconds,
# ARGV[6] = the delivery ids' prefix (alert id and channel),
# then groups of 5: official id, new state, allowed-from states (comma list), provider id, reason.
# A move that is made with a provider id also records whose that id is (prefix .. provider id -> delivery
# id), in the same step: the index is keyed by provider id, so its key cannot be named in KEYS beforehand
# (the hub runs one Redis primary, never a cluster).
# A move is made only from an allowed state, so a late or repeated update never walks a delivery back.
# Moving to 'sending' is a claim: it counts an attempt and stamps the claim time; a claim of a delivery
# that is already 'sending' succeeds only if that claim is older than the cutoff (its worker died), and
# keeps in 'u' when the first of its unknown attempts was claimed (until it leaves 'sending').
TRANSITION = """
local out = {}
local now = tonumber(ARGV[2])
local cutoff = tonumber(ARGV[3])
local index = ARGV[4]
local metric = string.match(ARGV[1], '^[^@]*') .. '|'
for i = 7, #ARGV, 5 do
  local id = ARGV[i]
  local to = ARGV[i + 1]
  local raw = redis.call('HGET', KEYS[1], id)
  local ok = 0
  if raw then
    local d = cjson.decode(raw)
    local allowed = string.find(',' .. ARGV[i + 2] .. ',', ',' .. d.s .. ',', 1, true)
    if allowed and to == 'sending' and d.s == 'sending' and not ((d.c or 0) < cutoff) then
      allowed = nil
    end
    if allowed and to == 'sending' and d.p then
      allowed = nil
    end
    if allowed then
      if d.s ~= to then
        redis.call('HINCRBY', KEYS[2], ARGV[1] .. ':' .. d.s, -1)
        redis.call('HINCRBY', KEYS[2], ARGV[1] .. ':' .. to, 1)
        if KEYS[3] then redis.call('HINCRBY', KEYS[3], metric .. to, 1) end
      end
      local was = d.s
      d.s = to
      d.t = now
      if ARGV[i + 3] ~= '' then d.p = ARGV[i + 3] end
      if ARGV[i + 4] ~= '' then d.r = ARGV[i + 4] end
      if to == 'sending' then
        -- Reclaiming a send whose outcome nobody knows: remember when that unknown attempt began.
        if was == 'sending' and not d.u then d.u = d.c end
        d.a = (d.a or 0) + 1
        d.c = now
      else
        d.u = nil
      end
      redis.call('HSET', KEYS[1], id, cjson.encode(d))
      if index ~= '' and ARGV[i + 3] ~= '' then
        redis.call('SET', index .. ARGV[i + 3], ARGV[6] .. id, 'EX', ARGV[5])
      end
      ok = 1
    end
  end
  out[#out + 1] = ok
end
return out
"""

# Pacing: KEYS[1] = the sender's theoretical-arrival-time key. ARGV: now, interval, horizon.
# Reserves the next slot if it is no further than `horizon` seconds ahead and returns how long to wait
# for it (>= 0); otherwise reserves nothing and returns minus the wait, so low-priority work never books
# slots far ahead of an alert that arrives later.
RESERVE_SLOT = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > horizon then
  return tostring(-wait)
end
redis.call('SET', KEYS[1], tostring(tat + interval), 'EX', 3600)
return tostring(wait)
"""

# Escalation timers. KEYS[1] = due zset, KEYS[2] = firing zset. ARGV: now, lease seconds, limit.
# First puts back steps whose scheduler died while firing them (lease expired), then moves due steps
# to 'firing' and returns them: with several schedulers each step is taken by exactly one.
CLAIM_DUE_STEPS = """
local now = tonumber(ARGV[1])
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], 0, now)) do
  redis.call('ZREM', KEYS[2], member)
  redis.call('ZADD', KEYS[1], now, member)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], 0, now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
for i = 1, #due, 2 do
  redis.call('ZREM', KEYS[1], due[i])
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), due[i])
end
return due
"""

# The alert a bare "1" acknowledges. KEYS[1] = the open-alerts zset (alert id -> sent time).
# ARGV: oldest sent time still open, recipients prefix, reached prefix, acks prefix, then official ids.
# Returns {alert id, official id}: the newest open alert that reached one of these officials (first or by
# escalation) and that this official has not acknowledged; nil if none. One round trip, however many
# officials an alert reached: nothing per official is written when an alert goes out.
NEWEST_OPEN_ALERT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
for _, alert in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do
  for i = 5, #ARGV do
    local official = ARGV[i]
    if (redis.call('SISMEMBER', ARGV[2] .. alert, official) == 1
        or redis.call('SISMEMBER', ARGV[3] .. alert, official) == 1)
       and redis.call('HEXISTS', ARGV[4] .. alert, official) == 0 then
      return {alert, official}
    end
  end
end
return false
"""

# The audit trail's hash chain. KEYS[1] = the stream, KEYS[2] = its head (the newest entry's hash).
# ARGV: the previous hash the caller computed with, the entry's hash, then field name/value pairs.
# Appends only if the head is still what the caller read, so entries from several processes form one
# chain; returns the new entry's id, or false when another process appended first (read and retry).
APPEND_CHAINED = """
local head = redis.call('GET', KEYS[2]) or 'genesis'
if head ~= ARGV[1] then
  return false
end
local per = tonumber(ARGV[2])
local ids = {}
local prev = ARGV[1]
local i = 3
while i <= #ARGV do
  local hash = ARGV[i]
  local fields = {}
  for j = i + 1, i + per do fields[#fields + 1] = ARGV[j] end
  fields[#fields + 1] = 'prev'
  fields[#fields + 1] = prev
  fields[#fields + 1] = 'hash'
  fields[#fields + 1] = hash
  ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', unpack(fields))
  prev = hash
  i = i + per + 1
end
redis.call('SET', KEYS[2], prev)
return ids
"""

# The first acknowledgement of an official for an alert, and its metrics, in one step. KEYS[1] = the alert's
# acks hash, KEYS[2] = acks per channel, KEYS[3] = time-to-ack buckets, KEYS[4] = the alerts index (alert id
# -> created). ARGV: official id, ack JSON, ack channel, ack time, alert id, then the buckets' bounds.
# Returns 1 if this ack was the first (and counted), 0 if the official had acknowledged already.
RECORD_ACK = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
local created = redis.call('ZSCORE', KEYS[4], ARGV[5])
if created then
  local seconds = math.max(0, tonumber(ARGV[4]) - tonumber(created))
  local bucket = '+Inf'
  for i = 6, #ARGV do
    if seconds <= tonumber(ARGV[i]) then
      bucket = ARGV[i]
      break
    end
  end
  redis.call('HINCRBY', KEYS[3], ARGV[3] .. '|' .. bucket, 1)
  redis.call('HINCRBYFLOAT', KEYS[3], ARGV[3] .. '|sum', seconds)
  redis.call('HINCRBY', KEYS[3], ARGV[3] .. '|count', 1)
end
return 1
"""
