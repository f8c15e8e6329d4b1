"""The flags of `python client.py stream` and their help text (the launcher,
wordcount/stream/launch.py, runs the job they describe)."""
from __future__ import annotations

import argparse
from typing import Sequence

from wordcount.cli import add_common_arguments
from wordcount.config import MAX_PROCESSES
from wordcount.faults.points import DAMAGE_POINTS, LOGICAL_KINDS, MAPPER_POINTS, REDUCER_POINTS
from wordcount.helptext import SETTINGS_NOTE, STREAM_EXAMPLES, HelpFormatter, default
from wordcount.stream.netflags import NET_EPILOG, add_net_arguments


def _points() -> str:
    """The --kill-at point kinds, one per help line."""
    return "\n".join(f"        {kind + ':N':<13} {text}" for kind, text in LOGICAL_KINDS.items())


EPILOG = f"""\
crash injection:
  --kill WHO --every S [--seed N] [--kill-count K]
      SIGKILL workers every S seconds while work is pending (the first kill S
      seconds after all workers started). WHO: a worker id (mapper-0,
      reducer-1, ...), several ids joined by commas (killed together), or
      mapper, reducer, any (one at random, chosen with --seed) or all.
      --kill-count K stops after K kills.
  --chaos SEED
      two or three kills at logical points chosen with SEED: the same seed on
      the same data kills the same workers at the same steps of the protocol
      (not merely at the same times). A failed run prints its replay command.
  --kill-at WORKER@KIND:N
      SIGKILL WORKER at a logical point; repeatable, fired in order (each is
      armed once the previous one fired). KIND:
{_points()}
  --crash WORKER:POINT[@K][=ACTION]
      a fault of WORKER's first incarnation on its K-th arrival at POINT
      (default the 1st). ACTION: exit (default) dies at once; hang freezes
      (SIGSTOP), so that only its missing heartbeats reveal it; slow:SECONDS
      stalls at every arrival from the K-th on (not at the reducer's damage
      points {' and '.join(DAMAGE_POINTS)}). Repeatable. See docs/faults.md.
      mapper points:  {', '.join(MAPPER_POINTS)}
      reducer points: {', '.join(REDUCER_POINTS)}

every kill is reported under "recoveries" in the run record (--record FILE);
--chaos/--kill-at plans and the kills they fired under "chaos".

""" + NET_EPILOG + STREAM_EXAMPLES


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="client.py stream", epilog=EPILOG, formatter_class=HelpFormatter,
        description="Count every word of the input files with M mapper and R reducer processes that "
        "take Flink-style aligned checkpoints and recover from worker crashes (Lab 2). See "
        "docs/lab2.md.\n\n" + SETTINGS_NOTE)
    add_common_arguments(parser)
    parser.add_argument("--mappers", type=int, metavar="M",
                        help=f"number of mapper processes, 1 to {MAX_PROCESSES}" + default("stream.mappers"))
    parser.add_argument("--reducers", type=int, metavar="R",
                        help=f"number of reducer processes, 1 to {MAX_PROCESSES}" + default("stream.reducers"))
    parser.add_argument("--checkpoint-interval", type=float, metavar="S",
                        help="seconds between checkpoints; 0 = only the final one"
                        + default("stream.checkpoint_interval_s"))
    parser.add_argument("--kill", metavar="WHO", help="SIGKILL workers periodically (see below)")
    parser.add_argument("--every", type=float, metavar="S", help="seconds between kills")
    parser.add_argument("--seed", type=int, metavar="N", help="random seed of the kill schedule (default: 0)")
    parser.add_argument("--kill-count", type=int, metavar="K", help="stop after K kills")
    parser.add_argument("--chaos", type=int, metavar="SEED",
                        help="seeded kills at logical points (checkpoint, recovery, files done); "
                        "the same SEED on the same data replays them (see below)")
    parser.add_argument("--kill-at", action="append", default=[], metavar="WORKER@KIND:N",
                        help="SIGKILL WORKER at a logical point, e.g. mapper-0@completed:2 (see below)")
    parser.add_argument("--crash", action="append", default=[], metavar="WORKER:POINT[@K][=ACTION]",
                        help="fault at a crash point of one worker's first incarnation (see below)")
    parser.add_argument("--throttle", type=float, default=0.0, metavar="S",
                        help="mappers pause S seconds after each file, so that small inputs last long "
                        "enough for crash tests and demos (default: 0)")
    add_net_arguments(parser)
    return parser.parse_args(argv)


def overrides(args: argparse.Namespace) -> dict:
    return {"stream.mappers": args.mappers, "stream.reducers": args.reducers,
            "stream.checkpoint_interval_s": args.checkpoint_interval}
