"""The Redis bus's key layout and Lua scripts (plain text; run by ``bus.redis``).

See ``bus.redis`` for what each key holds. Keys of one stream share the hash tag ``{stream}``.
"""

from __future__ import annotations

CHANNEL = "tc:bus"
STREAMS_KEY = "tc:streams"


def meta_key(stream: str) -> str:
    return f"tc:m:{{{stream}}}"


def history_key(stream: str) -> str:
    return f"tc:h:{{{stream}}}"


def state_key(stream: str) -> str:
    return f"tc:s:{{{stream}}}"


def fence_key(publisher: str) -> str:
    return f"tc:f:{publisher}"


PUBLISH_LUA = """
local maxlen = tonumber(ARGV[1])
local now = ARGV[3]
local fence = KEYS[2]
local first = 5
if fence then
  local last = redis.call('HGET', fence, 'last') or ''
  if last ~= ARGV[5] then return redis.error_reply('TCFENCE ' .. last) end
  first = 8
end
local out = {}
local msg = {}
local seen = {}
for i = first, #ARGV do
 local blob = ARGV[i]
 local pos = 1
 while pos <= #blob do
  local nl = string.find(blob, '\\n', pos, true) or (#blob + 1)
  local rec = string.sub(blob, pos, nl - 1)
  pos = nl + 1
  local t1 = string.find(rec, '\\t', 1, true)
  local t2 = string.find(rec, '\\t', t1 + 1, true)
  local stream = string.sub(rec, 1, t1 - 1)
  local ops = string.sub(rec, t1 + 1, t2 - 1)
  local payload = string.sub(rec, t2 + 1)
  local s = seen[stream]
  if not s then
    local meta = 'tc:m:{' .. stream .. '}'
    local hist = 'tc:h:{' .. stream .. '}'
    local st = 'tc:s:{' .. stream .. '}'
    local cur = redis.call('HMGET', meta, 'epoch', 'seq')
    local epoch = cur[1]
    local last = tonumber(cur[2]) or 0
    if (not epoch) or (maxlen > 0 and last > 0 and redis.call('EXISTS', hist) == 0) then
      epoch = ARGV[2]
      last = 0
      redis.call('DEL', hist, st)
      redis.call('HSET', meta, 'epoch', epoch, 'seq', 0)
    end
    s = {meta = meta, hist = hist, st = st, epoch = epoch, seq = last}
    seen[stream] = s
  end
  local seq = s.seq + 1
  s.seq = seq
  redis.call('HSET', s.meta, 'seq', seq)
  if seq == 1 then redis.call('SADD', KEYS[1], stream) end
  if maxlen > 0 then
    redis.call('XADD', s.hist, seq .. '-0', 'e', payload, 't', now)
  end
  if ops ~= '' then
    local o = cjson.decode(ops)
    local p = s.ops
    if o[1] == 1 or not p then
      p = {}
      s.ops = p
      if o[1] == 1 then s.reset = true end
    end
    for j = 2, #o, 2 do p[o[j]] = o[j+1] end
  end
  out[#out+1] = seq .. ' ' .. s.epoch
  msg[#msg+1] = stream .. '\\t' .. seq .. '\\t' .. s.epoch .. '\\t' .. now .. '\\t' .. payload
 end
end
local function flush(cmd, key, args)
  if #args > 0 then redis.call(cmd, key, unpack(args)) end
  return {}
end
for _, s in pairs(seen) do
  if maxlen > 0 then redis.call('XTRIM', s.hist, 'MAXLEN', maxlen) end
  if s.reset then redis.call('DEL', s.st) end
  if s.ops then
    local set, del = {}, {}
    for f, v in pairs(s.ops) do
      if v == false then del[#del+1] = f else set[#set+1] = f; set[#set+1] = v end
      if #set >= 1000 then set = flush('HSET', s.st, set) end
      if #del >= 1000 then del = flush('HDEL', s.st, del) end
    end
    flush('HSET', s.st, set)
    flush('HDEL', s.st, del)
  end
end
redis.call('PUBLISH', ARGV[4], table.concat(msg, '\\n'))
local reply = table.concat(out, ',')
if fence then
  redis.call('HSET', fence, 'last', ARGV[6], ARGV[6], reply)
  if ARGV[7] ~= '' then redis.call('HDEL', fence, ARGV[7]) end
  redis.call('EXPIRE', fence, 86400)
end
return reply
"""
"""KEYS: the streams set, and optionally the publisher's fence (see ``bus.redis_publish``). A
stream's meta is read once per call (later events of the same stream in the call go on from it);
its seq is still written before each event's history entry, so a call failing halfway leaves the
counter at the last entry written, as before. Each history is trimmed once per call (exact
``MAXLEN``, the same result as trimming at every entry: nobody sees the call's middle), and each
state hash is written once per call: the call's state ops per field folded to the last one (a
reset clears what came before it), then one DEL if reset, HSETs and HDELs of up to 1,000 fields.
A call failing halfway leaves the history ahead of the state; the retry publishes its events
again and brings the state up to date.
With a fence, the call runs only if the fence's ``last`` equals ARGV[5] (the token of the call
sent before it, "" for none), else it changes nothing and replies ``TCFENCE <last>``; having run,
it stores ``last`` = its token ARGV[6] and its reply under that token, forgets the reply stored
under ARGV[7] (if not "") and keeps the fence a day. So the calls of a publisher that Redis
applies are always a prefix of those it sent, in order, and a reply lost with its connection can
be read back.
ARGV: history size, a fresh epoch, publish time, channel, (with a fence: the previous token, this
token, the token to forget), then the records, one
``stream TAB state-ops TAB event`` per event, in arguments each holding one or more records joined
with newlines (JSON escapes both separators). The bus sends them all in one argument: one instead
of one per event spares the client packing each. Returns ``"seq epoch,seq epoch,..."``."""

SETTLE_LUA = """
local r = redis.call('HMGET', KEYS[1], 'last', unpack(ARGV, 2))
redis.call('HSET', KEYS[1], 'last', ARGV[1])
redis.call('EXPIRE', KEYS[1], 86400)
return r
"""
"""A publisher's new connection: KEYS the fence; ARGV a fresh token, then the tokens of the calls
left in flight. Returns the fence's ``last`` and the replies stored under those tokens (nil for a
call not applied), and sets ``last`` to the fresh token, so that a call of the old connection
still unread by Redis can no longer run after this."""

POSITION_LUA = """
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1])
redis.call('HSETNX', KEYS[1], 'seq', 0)
return redis.call('HMGET', KEYS[1], 'seq', 'epoch')
"""

STATE_LUA = """
local cur = redis.call('HMGET', KEYS[1], 'seq', 'epoch')
return {cur[1], cur[2], redis.call('HGETALL', KEYS[2])}
"""

RESTORE_LUA = """
local out = {}
for _, s in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local cur = redis.call('HMGET', 'tc:m:{' .. s .. '}', 'seq', 'epoch')
  if cur[2] then
    out[#out+1] = {s, cur[1], cur[2], redis.call('HGETALL', 'tc:s:{' .. s .. '}')}
  end
end
return out
"""
