"""DELIBERATELY BROKEN Lab 2 mapper (see __main__.py); for tests/test_grader.py."""
