#!lua name=wordcount

--[[
The Lab 1 commit, as one Redis Function so it runs atomically: Redis executes
a function to completion before serving any other command, and a BGSAVE
snapshot therefore contains either all of a commit or none of it.

FCALL wc_commit 4|5 <stream> <counts> <progress> <warnings> [<partials>]
      <group> <n> (<entry id> <bytes> <warn path or ''>) x n <counts...>

<counts...> is either (<word> <count>)... (the course format) or one packed
argument "word\tcount\n..." (what the reference worker sends: one argument
instead of two per word, parsed here). Words never contain ASCII whitespace.

* Everything is checked before the first write, because Redis does not roll
  back a function that fails part-way: n and every <bytes> are integers (a
  byte count of at most 12 digits), no
  entry id occurs twice, every count is a non-zero integer written the way
  HINCRBY reads one (no '+', no leading zero: HINCRBY refuses "007") of at
  most 18 digits, and every word non-empty.
  A malformed call is an error reply and changes nothing.
* Every entry id must still be pending in <group>. If any is not (another
  worker stole it and already committed, or a Redis rollback forgot it), the
  call changes nothing and returns the ids that are gone; the caller then
  commits the remaining entries with their own counts.
* Otherwise it XACKs each id, adds every word count to the hash <counts>, adds
  the entries and bytes to <progress> (`files`, `bytes`), records files that
  needed UTF-8 replacement in the set <warnings>, and returns an empty array.
* With a fifth key <partials> (the reference worker passes it) a packed
  argument is not added word by word: it is pushed, as it is, onto the list
  <partials>, a partial table the client merges with <counts> at the end of
  the job (wordcount/batch/partials.py). Redis then copies one string per
  commit where it used to update a hash field per word, which was most of
  its time on a job of many distinct words; the two workers' last commits
  no longer queue behind each other for long. Past FOLD_BYTES of partial
  tables the oldest are folded into <counts> (word by word, as below), so
  Redis holds at most that much more than the hash.
  Into a <counts> that does not exist yet (a job's first commit) every word
  is new, so the counts go in with a few HSET calls of thousands of fields
  instead of one HINCRBY each: a third less time for that commit. Should one
  word come twice in the call, HSET would keep one of its counts; the field
  count shows it, and the hash, absent before, is deleted and filled by
  HINCRBY instead.

FCALL wc_touch 1 <stream> <group> <consumer> <entry id>...

Resets the idle time (XCLAIM ... JUSTID) of each entry that is still pending
to <consumer>, so XAUTOCLAIM steals only from workers that stopped making
progress; never takes an entry that another consumer holds. Returns two
arrays: the ids another consumer holds now (stolen), and the ids no longer
pending at all (acknowledged by someone, or rolled back).
]]

local function fail(msg)
  return redis.error_reply('wc_commit: ' .. msg)
end

-- A byte count has at most this many digits, so their sum stays an exact Lua number (below 2^53)
-- and reaches HINCRBY as plain digits, not as "1e+18", which HINCRBY refuses after the XACKs.
local SIZE_DIGITS = 12

-- A count HINCRBY takes for sure: an integer of at most 18 digits (int64).
local function bad_count(count)
  local digits = string.match(count, '^%-?([1-9]%d*)$')
  return not digits or #digits > 18
end

-- A packed argument checked, and kept as it is: {blob = <the argument>}, or nil
-- and why. Only positions are captured (no substring is made per word), and
-- the matches must tile the whole argument, so one line that does not match
-- (an empty word, a count "0", "007" or "+5", a missing newline) fails it.
local function check_packed(blob)
  local last = 1
  for s, digits, e in string.gmatch(blob, '()[^\t\n]+\t%-?()[1-9]%d*\n()') do
    if s ~= last then
      return nil, 'malformed packed counts at byte ' .. last
    end
    if e - 1 - digits > 18 then
      return nil, 'count out of range at byte ' .. digits
    end
    last = e
  end
  if last ~= #blob + 1 then
    return nil, 'malformed packed counts at byte ' .. last
  end
  return {blob = blob}
end

-- The words of a checked packed argument as {word, count, word, count...}.
-- (two stores at a known index per word: `#out` would search the table's length every time)
local function split_packed(blob)
  local out, n = {}, 0
  for word, count in string.gmatch(blob, '([^\t\n]+)\t(%-?%d+)\n') do
    out[n + 1] = word
    out[n + 2] = count
    n = n + 2
  end
  return out
end

-- The counts of the call, or nil and why: a list {word, count, word, count...}
-- for word/count arguments, {blob = ...} for one packed argument.
local function parse_counts(args, first)
  if #args == first then
    return check_packed(args[first])
  end
  if (#args - first + 1) % 2 ~= 0 then
    return nil, 'odd number of word/count arguments'
  end
  local out = {}
  for j = first, #args, 2 do
    if args[j] == '' or bad_count(args[j + 1]) then
      return nil, 'malformed word/count pair at argument ' .. j
    end
    out[#out + 1] = args[j]
    out[#out + 1] = args[j + 1]
  end
  return out
end

local SET_STEP = 6000  -- values per HSET call: unpack() must stay below Lua's C stack limit (8000)

-- Add {word, count, ...} to the hash `counts` (the checks are done: nothing here fails).
local function add_words(counts, words)
  if redis.call('EXISTS', counts) == 0 then
    for i = 1, #words, SET_STEP do
      redis.call('HSET', counts, unpack(words, i, math.min(i + SET_STEP - 1, #words)))
    end
    if redis.call('HLEN', counts) == #words / 2 then
      return
    end
    redis.call('DEL', counts)  -- a word came twice: back to no hash, as before the call
  end
  for j = 1, #words, 2 do
    redis.call('HINCRBY', counts, words[j], words[j + 1])
  end
end

-- Partial tables held as they came, at most this many bytes of them: past it,
-- the oldest are folded into the hash (so Redis' memory stays bounded, and a
-- job small enough to stay under it never pays for the hash at all).
local FOLD_BYTES = 16 * 1024 * 1024

-- Add the call's counts (from parse_counts). With a <partials> list, a packed
-- argument is pushed onto it as it is (the client merges the list and the
-- hash at the end); `partial_bytes` in <progress> is the list's size.
local function add_counts(counts, words, partials, progress)
  if not words.blob then
    return add_words(counts, words)
  end
  if not partials then
    return add_words(counts, split_packed(words.blob))
  end
  if #words.blob == 0 then
    return
  end
  redis.call('RPUSH', partials, words.blob)
  local held = redis.call('HINCRBY', progress, 'partial_bytes', #words.blob)
  while held > FOLD_BYTES do
    local oldest = redis.call('LPOP', partials)
    add_words(counts, split_packed(oldest))
    held = redis.call('HINCRBY', progress, 'partial_bytes', -#oldest)
  end
end

local function commit(keys, args)
  local stream, counts, progress, warnings = keys[1], keys[2], keys[3], keys[4]
  local group = args[1]
  -- BEGIN SOLUTION: validate everything, return the ids no longer pending (and change nothing), else XACK each, add the counts (add_counts, keys[5] its partials list) and progress, return {}
  if not args[2] or not string.find(args[2], '^%d+$') or #args < 2 + 3 * tonumber(args[2]) then
    return fail('bad entry count')
  end
  local n = tonumber(args[2])
  local seen, gone, bytes = {}, {}, 0
  for i = 0, n - 1 do
    local id, size = args[3 + 3 * i], args[4 + 3 * i]
    if seen[id] then
      return fail('entry ' .. id .. ' twice in one call')
    end
    seen[id] = true
    if #size > SIZE_DIGITS or not string.find(size, '^%d+$') then
      return fail('bad byte count for entry ' .. id)
    end
    bytes = bytes + tonumber(size)
  end
  if bytes >= 2 ^ 53 then
    return fail('byte counts add up past 2^53')
  end
  local words, why = parse_counts(args, 3 + 3 * n)
  if not words then
    return fail(why)
  end
  for i = 0, n - 1 do
    local id = args[3 + 3 * i]
    if #redis.call('XPENDING', stream, group, id, id, 1) == 0 then
      gone[#gone + 1] = id
    end
  end
  if #gone > 0 then
    return gone
  end
  -- Checked: from here on nothing can fail, so the call is all or nothing.
  for i = 0, n - 1 do
    redis.call('XACK', stream, group, args[3 + 3 * i])
    local warn = args[5 + 3 * i]
    if warn ~= '' then
      redis.call('SADD', warnings, warn)
    end
  end
  add_counts(counts, words, keys[5], progress)
  redis.call('HINCRBY', progress, 'files', n)
  redis.call('HINCRBY', progress, 'bytes', bytes)
  return {}
  -- END SOLUTION
end

local function touch(keys, args)
  local stream, group, me = keys[1], args[1], args[2]
  local taken, gone = {}, {}
  for j = 3, #args do
    local p = redis.call('XPENDING', stream, group, args[j], args[j], 1)
    if #p == 0 then
      gone[#gone + 1] = args[j]
    elseif p[1][2] == me then
      redis.call('XCLAIM', stream, group, me, 0, args[j], 'JUSTID')
    else
      taken[#taken + 1] = args[j]
    end
  end
  return {taken, gone}
end

redis.register_function('wc_commit', commit)
redis.register_function('wc_touch', touch)
