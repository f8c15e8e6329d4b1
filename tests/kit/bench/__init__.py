"""The benchmark behind tests/benchmark.py.

rounds.py says what runs in which order; baselines.py runs the serial count and Pool(2) in this
process; measure.py runs one job and holds the shared state (the Redis meter); rss.py samples peak
memory; report.py prints and saves the main table; scaling.py and plot.py make the scaling table
and its PNG.
"""
