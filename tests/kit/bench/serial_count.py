"""The serial count as a user would run it: the yardstick of every ratio of the benchmark.

    python tests/kit/bench/serial_count.py DATA OUTPUT [CONFIG]

One process, no Redis, no workers: find the inputs, count them with the
jobs' tokenizer (wordcount.table.serial_count, the reference every job must
equal) and write the same `word<TAB>count` table a job writes. The benchmark
times it from outside by wall clock, exactly like a job (`python client.py
...`), so both sides of a ratio include Python's start-up and writing the
output: the job it replaces is this script, not a function call inside a
process that was already running.
"""
from __future__ import annotations

import sys

from wordcount.config import load_settings
from wordcount.inputs import find_inputs
from wordcount.table import serial_count, write_table


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    data, output = argv[0], argv[1]
    settings = load_settings(argv[2] if len(argv) == 3 else None)
    inputs = find_inputs(data, tuple(settings.extensions), settings.csv_text_column)
    write_table(serial_count((f.path for f in inputs), settings.tokenizer_spec()), output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
