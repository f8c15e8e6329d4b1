"""`--help` of both jobs: wrapped text, built-in defaults, examples.

Flags default to None in argparse (None means "not given, keep the setting
from config.json"), so argparse's own ArgumentDefaultsHelpFormatter would
print "None"; `default()` names the built-in setting instead.
"""
from __future__ import annotations

import argparse
import re
import textwrap

from wordcount.config import Settings

DEFAULTS = Settings()


def default(name: str, off: bool = False) -> str:
    """' (default: V)' for setting `name` (dotted for sections, e.g. 'stream.mappers')."""
    value: object = DEFAULTS
    for part in name.split("."):
        value = getattr(value, part)
    return f" (default: {value}{', off' if off and not value else ''})"


class HelpFormatter(argparse.HelpFormatter):
    """Wraps paragraphs of descriptions and epilogs to the terminal; keeps indented blocks
    (examples, tables) exactly as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for block in re.split(r"\n\s*\n", textwrap.dedent(text).strip("\n")):
            lines = block.splitlines()
            if any(line.startswith(" ") for line in lines[1:]) or block.startswith(" "):
                out.append("\n".join(indent + line for line in lines))
            else:
                out.append(textwrap.fill(" ".join(lines), width, initial_indent=indent, subsequent_indent=indent))
        return "\n\n".join(out) + "\n"


SETTINGS_NOTE = ("Every flag overrides the matching setting of config.json (see docs/lab1.md and "
                 "docs/lab2.md); the defaults shown are the built-in ones, used when config.json "
                 "does not set them.")

BATCH_EXAMPLES = """\
examples:
  python client.py --verify                      # count, then check serially
  python client.py --data ~/books --workers 8 --output counts.tsv
  python client.py --data 'corpus/**/*.txt'      # a glob (quoted)
  python client.py --crash w0:after_read --verify   # w0 dies after a read
  python client.py --kill-redis-every 2 --verify    # SIGKILL Redis every 2 s
  python client.py --chaos 42 --verify           # seeded, replayable crashes
  python client.py stream --help                 # the streaming job (Lab 2)
  python client.py clean --keep 5                # keep 5 finished runs

Ctrl-C stops the job and every process it started (exit status 130).
"""

STREAM_EXAMPLES = """\
examples:
  python client.py stream --verify
  python client.py stream --mappers 3 --reducers 2 --checkpoint-interval 0.2 --verify
  python client.py stream --kill any --every 3 --seed 7 --verify
  python client.py stream --chaos 35 --verify --throttle 0.05
  python client.py stream --kill-at mapper-0@completed:2 --verify
  python client.py stream --crash reducer-1:after_snapshot=hang --verify
"""
