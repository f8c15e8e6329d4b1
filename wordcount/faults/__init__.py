"""Fault injection for both labs: one vocabulary, one grammar, one place.

    points.py     the closed lists: crash points per part, actions, the logical
                  point kinds of Lab 2, kill groups; a slot for network faults
    spec.py       FaultSpec and the one grammar WORKER:POINT[@K][=ACTION]
                  (ACTION: exit | hang | slow:SECONDS), old spellings included
    process.py    ProcessFaults, the injector a worker process holds: at(POINT)
    schedules.py  Lab 2 kills by the coordinator: timed (KillSpec, KillSchedule)
                  and logical (Point, LogicalKill, ChaosPlan, LogicalKills)
    plans.py      seeded chaos plans: batch_schedule (Lab 1), stream_schedule (Lab 2)
    flags.py      checking the fault flags of both command lines

Today every fault is a *process* fault: a process exits, hangs or stalls at a
named point, or the coordinator SIGKILLs it. *Network* faults -- loss,
duplicate, reorder, delay, partition of messages -- come next and will sit
beside these (their kinds in points.py, their injector next to process.py),
parsed and planned the same way. The grammar is documented in spec.py and in
docs/lab1.md and docs/lab2.md ("Crash injection").
"""
