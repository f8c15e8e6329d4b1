"""Fault injection for both jobs."""
