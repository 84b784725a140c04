// The Lua scripts that make admission and settlement atomic in Redis (see docs/state.md).
#pragma once

#include <string_view>

namespace switchboard::accounting::redis_scripts {

// KEYS: rpm bucket, tpm bucket, budget hash, reservation zset.
// ARGV: rpm, tpm, tokens, budget usd (-1 = none), cost, reservation id, reservation ttl ms,
//       budget ttl s (0 = keep), bucket ttl ms.
// Returns {code, a, b, c} as strings: code 0 admitted (a = tokens taken, b = budget remaining,
// c = budget spent+reserved before this request), 1 rpm / 2 tpm refused (a = retry-after ms),
// 3 budget refused (b = remaining, c = spent+reserved).
inline constexpr std::string_view kAdmit = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rpm, tpm, tokens = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local bucket_ttl = tonumber(ARGV[9])
local function level(key, cap)
  local v = redis.call('HMGET', key, 'l', 't')
  if not v[1] then return cap end
  local l = tonumber(v[1]) + math.max(0, now - tonumber(v[2])) * cap / 60000
  if l > cap then l = cap end
  return l
end
local function fmt(x) return string.format('%.17g', x) end
local rl, tl = 0, 0
if rpm > 0 then
  rl = level(KEYS[1], rpm)
  if rl < 1 then return {'1', fmt(math.ceil((1 - rl) * 60000 / rpm)), '', ''} end
end
if tpm > 0 then
  if tokens > tpm then tokens = tpm end
  if tokens < 0 then tokens = 0 end
  tl = level(KEYS[2], tpm)
  if tl < tokens or tl <= 0 then
    local need = math.max(tokens, 1)
    return {'2', fmt(math.ceil((need - tl) * 60000 / tpm)), '', ''}
  end
else
  tokens = 0
end
local budget = tonumber(ARGV[4])
local remaining, used = '', ''
if budget >= 0 then
  -- Reservations of requests that never settled (a replica died, a reply was lost) expire.
  local expired = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 20)
  for _, id in ipairs(expired) do
    local amt = redis.call('HGET', KEYS[3], 'r:' .. id)
    if amt then
      redis.call('HINCRBYFLOAT', KEYS[3], 'reserved', -tonumber(amt))
      redis.call('HDEL', KEYS[3], 'r:' .. id)
    end
    redis.call('ZREM', KEYS[4], id)
  end
  local v = redis.call('HMGET', KEYS[3], 'spent', 'reserved')
  local spent, reserved = tonumber(v[1] or '0'), tonumber(v[2] or '0')
  if reserved < 0 or redis.call('ZCARD', KEYS[4]) == 0 then
    reserved = 0  -- float drift of the running sum
    redis.call('HSET', KEYS[3], 'reserved', '0')
  end
  local rem = budget - spent - reserved
  local cost = tonumber(ARGV[5])
  if rem <= 1e-12 or cost > rem + 1e-12 then
    return {'3', '0', fmt(math.max(0, rem)), fmt(spent + reserved)}
  end
  if cost > 0 then
    redis.call('HINCRBYFLOAT', KEYS[3], 'reserved', cost)
    redis.call('HSET', KEYS[3], 'r:' .. ARGV[6], fmt(cost))
    redis.call('ZADD', KEYS[4], now + tonumber(ARGV[7]), ARGV[6])
    redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[7]) * 2)
  end
  local ttl = tonumber(ARGV[8])
  if ttl > 0 then redis.call('EXPIRE', KEYS[3], ttl) end
  remaining, used = fmt(rem - cost), fmt(spent + reserved)
end
if rpm > 0 then
  redis.call('HSET', KEYS[1], 'l', fmt(rl - 1), 't', fmt(now))
  redis.call('PEXPIRE', KEYS[1], bucket_ttl)
end
if tpm > 0 then
  redis.call('HSET', KEYS[2], 'l', fmt(tl - tokens), 't', fmt(now))
  redis.call('PEXPIRE', KEYS[2], bucket_ttl)
end
return {'0', fmt(tokens), remaining, used}
)lua";

// KEYS: tpm bucket, budget hash, reservation zset, spend hour hash, settled marker.
// ARGV: tpm delta, reservation id ('' = none), cost, budget ttl s (-1 = no budget, 0 = keep),
//       spend field, input, output, cached input, cache write, max spend fields, fold field,
//       marker ttl ms, spend ttl s.
// Returns 1 when applied, 0 when this settlement id was applied before (a replay).
inline constexpr std::string_view kSettle = R"lua(
if not redis.call('SET', KEYS[5], '1', 'NX', 'PX', ARGV[12]) then return 0 end
local delta = tonumber(ARGV[1])
if delta ~= 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBYFLOAT', KEYS[1], 'l', -delta)
end
local cost = tonumber(ARGV[3])
local bttl = tonumber(ARGV[4])
if bttl >= 0 then
  if ARGV[2] ~= '' then
    local amt = redis.call('HGET', KEYS[2], 'r:' .. ARGV[2])
    if amt then
      redis.call('HINCRBYFLOAT', KEYS[2], 'reserved', -tonumber(amt))
      redis.call('HDEL', KEYS[2], 'r:' .. ARGV[2])
    end
    redis.call('ZREM', KEYS[3], ARGV[2])
  end
  redis.call('HINCRBYFLOAT', KEYS[2], 'spent', cost)
  if bttl > 0 then redis.call('EXPIRE', KEYS[2], bttl) end
end
local f = ARGV[5]
if redis.call('HEXISTS', KEYS[4], f .. '|n') == 0 and
   redis.call('HLEN', KEYS[4]) >= tonumber(ARGV[10]) then
  f = ARGV[11]  -- bounded: past the cap, users fold into "other"
end
redis.call('HINCRBY', KEYS[4], f .. '|n', 1)
redis.call('HINCRBYFLOAT', KEYS[4], f .. '|c', cost)
redis.call('HINCRBY', KEYS[4], f .. '|i', ARGV[6])
redis.call('HINCRBY', KEYS[4], f .. '|o', ARGV[7])
redis.call('HINCRBY', KEYS[4], f .. '|ci', ARGV[8])
redis.call('HINCRBY', KEYS[4], f .. '|cw', ARGV[9])
redis.call('EXPIRE', KEYS[4], ARGV[13])
return 1
)lua";

// KEYS: budget hash, reservation zset. ARGV: reservation id.
// Releases one budget reservation if it is there (an admission that ran after its caller had
// given up on it and refused the request locally). Returns 1 when one was released.
inline constexpr std::string_view kRelease = R"lua(
local amt = redis.call('HGET', KEYS[1], 'r:' .. ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if not amt then return 0 end
redis.call('HINCRBYFLOAT', KEYS[1], 'reserved', -tonumber(amt))
redis.call('HDEL', KEYS[1], 'r:' .. ARGV[1])
return 1
)lua";

}  // namespace switchboard::accounting::redis_scripts
