"""DELIBERATELY BROKEN Lab 2 coordinator (see __main__.py); for tests/test_grader.py."""
