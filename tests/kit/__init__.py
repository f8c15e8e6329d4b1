"""Test kit: helpers shared by several test modules (the network-namespace harness: netns.py)."""
