"""Lab 2 mapper process: `python -m mapper ...`, started by the coordinator (see mapper/mapper.py)."""
