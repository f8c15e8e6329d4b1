"""Helpers of tests/grade.py: the rubric, running items in isolation, grading data, the report."""
