#!lua name=wordcount

--[[
DELIBERATELY BROKEN copy of lua/wordcount.lua, for tests/test_grader.py: the
grader must fail it on the item 'slow_worker_stolen'.

The bug: it never checks whether an entry is still pending and ignores what
XACK returns, so when a slow worker commits an entry that another worker
already stole and committed (XACK returns 0), its counts are added a second
time. Same keys, arguments and replies as the reference otherwise; with no
slow worker the table is still exact, which is why only that item catches it.
]]

local function commit(keys, args)
  local stream, counts, progress, warnings = keys[1], keys[2], keys[3], keys[4]
  local group = args[1]
  local n = tonumber(args[2])
  local bytes = 0
  for i = 0, n - 1 do
    local id = args[3 + 3 * i]
    redis.call('XACK', stream, group, id)  -- BUG: a reply of 0 (not pending any more) is ignored
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
end

redis.register_function('wc_commit', commit)
