"""Lab 2 reducer process: `python -m reducer ...`, started by the coordinator (see reducer/reducer.py)."""
