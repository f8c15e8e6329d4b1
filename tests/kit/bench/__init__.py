"""The benchmark behind tests/benchmark.py: measure.py runs and measures, report.py prints and saves."""
