"""Fault injection for both labs: one vocabulary, one grammar, one place.

    points.py     the closed lists: crash points per part, actions, the logical
                  point kinds of Lab 2, kill groups, network fault kinds
    spec.py       FaultSpec and the one grammar WORKER:POINT[@K][=ACTION]
                  (ACTION: exit | hang | slow:SECONDS), old spellings included
    process.py    ProcessFaults, the injector a worker process holds: at(POINT)
    schedules.py  Lab 2 kills by the coordinator: timed (KillSpec, KillSchedule)
                  and logical (Point, LogicalKill, ChaosPlan, LogicalKills)
    plans.py      seeded chaos plans: batch_schedule (Lab 1), stream_schedule (Lab 2)
    flags.py      checking the fault flags of both command lines
    netspec.py    network faults of Lab 2: the --net / --partition grammar and
                  the `stream.net` setting that carries them to every process
    network.py    NetFaults, the injector each process wraps its sockets with:
                  loss, duplicates, reordering, delay of UDP datagrams judged
                  by their receiver, partitions (UDP dropped, TCP stalled)

Process faults make a process exit, hang or stall at a named point, or the
coordinator SIGKILLs it; network faults act on its messages, seeded the same
way (--net-seed, default the --chaos seed). The grammars are documented in
spec.py and netspec.py, in docs/faults.md, and in docs/lab1.md and
docs/lab2.md ("Crash injection", "Network faults, partitions and zombies").
"""
