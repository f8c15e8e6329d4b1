"""DELIBERATELY BROKEN Lab 2 reducer (see __main__.py); for tests/test_grader.py."""
