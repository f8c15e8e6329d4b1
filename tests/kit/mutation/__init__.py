"""Mutation analysis of the grading rubric (tests/mutate.py; docs/instructors.md, "Mutation analysis")."""
