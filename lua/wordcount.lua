#!lua name=wordcount

--[[
The Lab 1 commit, as one Redis Function so it runs atomically: Redis executes
a function to completion before serving any other command, and a BGSAVE
snapshot therefore contains either all of a commit or none of it.

FCALL wc_commit 4 <stream> <counts> <progress> <warnings>
      <group> <n> (<entry id> <bytes> <warn path or ''>) x n (<word> <count>)...

* Every entry id must still be pending in <group>. If any is not (another
  worker stole it and already committed, or a Redis rollback forgot it), the
  call changes nothing and returns the ids that are gone; the caller then
  commits the remaining entries with their own counts.
* Otherwise it XACKs each id (each XACK must return 1), adds every word count
  to the hash <counts>, adds the files and bytes to <progress>, records files
  that needed UTF-8 replacement in the set <warnings>, and returns an empty
  array.
]]

local function commit(keys, args)
  local stream, counts, progress, warnings = keys[1], keys[2], keys[3], keys[4]
  local group = args[1]
  local n = tonumber(args[2])
  -- BEGIN SOLUTION: return the ids no longer pending (and change nothing), else XACK each, add the counts and progress, return {}
  local gone = {}
  for i = 0, n - 1 do
    local id = args[3 + 3 * i]
    if #redis.call('XPENDING', stream, group, id, id, 1) == 0 then
      gone[#gone + 1] = id
    end
  end
  if #gone > 0 then
    return gone
  end
  local bytes = 0
  for i = 0, n - 1 do
    local id = args[3 + 3 * i]
    if redis.call('XACK', stream, group, id) ~= 1 then
      return redis.error_reply('wc_commit: XACK of pending entry ' .. id .. ' returned 0')
    end
    bytes = bytes + tonumber(args[4 + 3 * i])
    local warn = args[5 + 3 * i]
    if warn ~= '' then
      redis.call('SADD', warnings, warn)
    end
  end
  for j = 3 + 3 * n, #args, 2 do
    redis.call('HINCRBY', counts, args[j], args[j + 1])
  end
  redis.call('HINCRBY', progress, 'files', n)
  redis.call('HINCRBY', progress, 'bytes', bytes)
  return {}
  -- END SOLUTION
end

redis.register_function('wc_commit', commit)
