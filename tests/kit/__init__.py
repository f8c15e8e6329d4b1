"""The instructor and test kit: what the test suite, the grader and the benchmark share.

    kit.run      the one way to run a job as a subprocess (own session, output
                 in files, timeout, SIGTERM then SIGKILL of everything it
                 started, the last error line)
    kit.corpus   corpora, all from the one generator (wordcount.corpus)
    kit.tags     which processes belong to a test, and what a test left behind
    kit.grading  the grader behind tests/grade.py (rubric, items, report)
    kit.bench    the benchmark behind tests/benchmark.py (measuring, reporting)
    kit.netns    a real network on one machine: one network namespace per
                 "host", kernel loss, duplicates and partitions (nftables)
    kit.netjobs  jobs on such hosts: Redis on its own host, Lab 2 placement

It is imported as `kit` because tests/ is on sys.path: pytest puts it there
(rootdir conftest, no __init__.py in tests/), and so does Python when it runs
tests/grade.py or tests/benchmark.py as a script. The project's own modules
come from the installed package (pytest adds the repository root too,
`pythonpath = ["."]` in pyproject.toml).
"""
