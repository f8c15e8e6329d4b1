"""Command-line pieces both jobs share: common flags, settings, the summary,
--verify, and turning user errors into one line instead of a traceback."""
from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import sys
import time
from typing import Callable, Mapping, Sequence

from wordcount.config import REDIS_BACKENDS, Settings, load_settings
from wordcount.docker.sdk import DEFAULT_IMAGE, LOCAL_IMAGE
from wordcount.errors import JobFailed, UserError
from wordcount.inputs import InputFile, find_inputs
from wordcount.parts import parse_part
from wordcount.table import diff_report, serial_count, sorted_items, write_table

log = logging.getLogger("client")
# Like the flags, for every run of a shell (CI runs the crash tests in containers this way).
BACKEND_ENV = "WC_REDIS_BACKEND"
IMAGE_ENV = "WC_DOCKER_IMAGE"
CLIENT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "client.py")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags that mean the same in the batch and the streaming job."""
    parser.add_argument("--data", metavar="PATH", help="input directory (searched recursively) or glob")
    parser.add_argument("--output", metavar="FILE", help="where to write the word<TAB>count table")
    parser.add_argument("--config", metavar="FILE", help="settings file (default: ./config.json)")
    parser.add_argument("--redis-url", metavar="URL", help="use this Redis instead of starting one")
    parser.add_argument("--redis", choices=REDIS_BACKENDS, dest="redis_backend",
                        help="where the private Redis runs: a local process (default) or a container "
                        f"(needs Docker; default image {DEFAULT_IMAGE}). ${BACKEND_ENV} sets it too")
    parser.add_argument("--docker-image", metavar="IMAGE",
                        help=f"image for --redis docker; 'python myrds.py image' builds {LOCAL_IMAGE} "
                        f"for machines that cannot pull. ${IMAGE_ENV} sets it too")
    parser.add_argument("--verify", action="store_true",
                        help="also count serially; exit 1 and show differences if any word differs")
    parser.add_argument("--tokenizer", choices=("split", "normalize"), help="what a word is")
    parser.add_argument("--log-level", metavar="LEVEL", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument("--part", action="append", default=[], metavar="NAME=PATH",
                        help="use another implementation of one part (worker, lua, tokenizer, mapper, "
                        "reducer, coordinator); see docs/parts.md. Repeatable")
    parser.add_argument("--record", metavar="FILE",
                        help="also write the run record (timings, restarts, steals...) as JSON to FILE")


def common_overrides(args: argparse.Namespace) -> dict:
    return {
        "data_path": args.data, "output": args.output, "redis_url": args.redis_url,
        "redis_backend": args.redis_backend or os.environ.get(BACKEND_ENV) or None,
        "docker_image": args.docker_image or os.environ.get(IMAGE_ENV) or None,
        "tokenizer": args.tokenizer, "log_level": args.log_level,
        "parts": dict(parse_part(p) for p in args.part) or None,
    }


def settings_and_inputs(args: argparse.Namespace, extra: Mapping) -> tuple[Settings, list[InputFile]]:
    """Load and validate settings, then find inputs, before anything is started."""
    settings = load_settings(args.config, {**common_overrides(args), **extra})
    logging.getLogger().setLevel(settings.log_level.upper())
    inputs = find_inputs(settings.data_path, tuple(settings.extensions), settings.csv_text_column)
    check_output(settings.output)
    return settings, inputs


def check_output(path: str) -> None:
    """Refuse an unwritable output before the job runs, not after."""
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UserError(f"output {path!r} is a directory; pass --output FILE")
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output directory {parent!r}: {exc.strerror}") from None
    if not os.access(parent, os.W_OK):
        raise UserError(f"cannot write output in {parent!r}; pass another --output")


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def replay_command(argv: Sequence[str]) -> str:
    """The command line that repeats a run (with a chaos seed, the same crashes)."""
    return shlex.join([sys.executable, os.path.relpath(CLIENT), *argv])


def with_replay(run: Callable[[], int], argv: Sequence[str]) -> int:
    """Run a job; if it fails (job failed, or --verify found a difference), print how to replay it."""
    try:
        code = run()
    except JobFailed:
        print(f"replay: {replay_command(argv)}", file=sys.stderr)
        raise
    if code:
        print(f"replay: {replay_command(argv)}")
    return code


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so `finally` blocks stop children and servers."""
    raise KeyboardInterrupt


def run_main(main: Callable[[Sequence[str]], int], argv: Sequence[str] | None = None) -> int:
    """Run an entry point: user mistakes become one line on stderr and exit 2."""
    setup_logging()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return main(sys.argv[1:] if argv is None else argv)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except JobFailed as exc:
        print(f"job failed: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; all processes stopped", file=sys.stderr)
        return 130


def report(
    table: Mapping[str, int], inputs: list[InputFile], settings: Settings,
    warnings: Sequence[str], elapsed: float, verify: bool, out=sys.stdout,
) -> int:
    """Write the output file, print the summary, and optionally verify."""
    try:
        write_table(table, settings.output)
    except OSError as exc:
        raise UserError(f"cannot write output {settings.output!r}: {exc.strerror}") from None
    total_bytes = sum(f.size for f in inputs)
    print(f"counted {sum(table.values())} words ({len(table)} distinct) in {len(inputs)} files, "
          f"{total_bytes / 1e6:.1f} MB, in {elapsed:.2f}s", file=out)
    if settings.top:
        print(f"top {settings.top}:", file=out)
        for word, count in sorted_items(table)[: settings.top]:
            print(f"  {count:>10}  {word}", file=out)
    for path in sorted(warnings):
        print(f"warning: {path} is not valid UTF-8; bad bytes were counted as U+FFFD", file=out)
    print(f"full table: {os.path.abspath(settings.output)}", file=out)
    if not verify:
        return 0
    t0 = time.perf_counter()
    expected = serial_count((f.path for f in inputs), settings.tokenizer_spec())
    diff = diff_report(expected, table)
    if diff:
        print(f"verify: MISMATCH against the serial count\n{diff}", file=out)
        return 1
    print(f"verify: OK, identical to the serial count ({time.perf_counter() - t0:.2f}s)", file=out)
    return 0
