"""Lab 2 coordinator (`python -m coordinator`, started by wordcount/stream/launch.py).

    coordinator.py  the process: UDP receiver thread, sender, health monitor,
                    main loop and worker registration
    phases.py       the pure phase machine (CP, RECOVER_REDUCER, RECOVER_MAPPER,
                    LAST_CP, EXITING)
    supervisor.py   spawning, killing, reaping and replacing workers
    injector.py     crash injection: timed (--kill) and logical (--chaos,
                    --kill-at) SIGKILLs, from wordcount/faults/schedules.py
    status.py       the JSON status and result lines for the launcher
    recoveries.py   time from each failure until progress resumed
"""
