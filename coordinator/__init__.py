"""Lab 2 coordinator and launcher.

    launch.py       `python client.py stream ...`: flags, settings, Redis streams,
                    starts the coordinator process, shows status, reports
    coordinator.py  the coordinator process (`python -m coordinator`): UDP
                    receiver thread, sender, health monitor, main loop
    phases.py       the pure phase machine (CP, RECOVER_REDUCER, RECOVER_MAPPER,
                    LAST_CP, EXITING)
    supervisor.py   spawning, killing, reaping and replacing workers
    chaos.py        --kill schedule and --crash points
    recoveries.py   time from each failure until progress resumed
    spec.py         the job description handed from launcher to coordinator
"""
