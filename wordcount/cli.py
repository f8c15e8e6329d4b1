"""Command-line pieces both jobs share: common flags, settings, the summary,
--verify, and turning user errors into one line instead of a traceback."""
from __future__ import annotations

import argparse
import atexit
import logging
import os
import re
import shlex
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, NoReturn, Sequence

from wordcount import outfile, private, procs
from wordcount.config import REDIS_BACKENDS, Settings, load_settings
from wordcount.console import setup_logging, terminal_safe
from wordcount.docker.sdk import DEFAULT_IMAGE, LOCAL_IMAGE
from wordcount.errors import JobFailed, UserError
from wordcount.helptext import default
from wordcount.inputs import InputFile, find_inputs
from wordcount.parts import parse_part
from wordcount.table import Ordered, diff_report, serial_count, write_table
from wordcount.tokenize import utf8_warning

log = logging.getLogger("client")
# Like the flags, for every run of a shell (CI runs the crash tests in containers this way).
BACKEND_ENV = "WC_REDIS_BACKEND"
IMAGE_ENV = "WC_DOCKER_IMAGE"
CLIENT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "client.py")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags that mean the same in the batch and the streaming job."""
    parser.add_argument("--data", metavar="PATH",
                        help="input directory (searched recursively) or glob" + default("data_path"))
    parser.add_argument("--output", metavar="FILE", help="where to write the word<TAB>count table; "
                        "one job at a time per file" + default("output"))
    parser.add_argument("--config", metavar="FILE", help="settings file (default: ./config.json if present)")
    parser.add_argument("--redis-url", metavar="URL", help="use this Redis (also $REDIS_URL) instead of "
                        "starting a private one")
    parser.add_argument("--redis", choices=REDIS_BACKENDS, dest="redis_backend",
                        help="where the private Redis runs: a local process (default) or a container "
                        f"(needs Docker; default image {DEFAULT_IMAGE}). ${BACKEND_ENV} sets it too")
    parser.add_argument("--docker-image", metavar="IMAGE",
                        help=f"image for --redis docker; 'python myrds.py image' builds {LOCAL_IMAGE} "
                        f"for machines that cannot pull. ${IMAGE_ENV} sets it too")
    parser.add_argument("--verify", action="store_true",
                        help="also count serially; exit 1 and show differences if any word differs")
    parser.add_argument("--tokenizer", choices=("split", "normalize"), help="what a word is" + default("tokenizer"))
    parser.add_argument("--log-level", metavar="LEVEL", help="DEBUG, INFO, WARNING or ERROR" + default("log_level"))
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
    private.warn_if_exposed(args.redis_url)
    logging.getLogger().setLevel(settings.log_level.upper())
    inputs = find_inputs(settings.data_path, tuple(settings.extensions), settings.csv_text_column)
    outfile.claim(settings.output)  # writable, and no other job writes it: checked before anything starts
    return settings, inputs




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
    private.owner_only_umask()
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
    finally:
        outfile.release_all()


def warning_lines(warnings: Sequence[str], inputs: list[InputFile]) -> list[str]:
    """The workers' warnings as summary lines, by file then line number.

    A bare input path (what workers and mappers sent before warnings were
    messages, and what a course-style worker still sends) means "not UTF-8".
    """
    paths = {f.path for f in inputs}
    messages = {utf8_warning(w) if w in paths else w for w in warnings if w}
    return sorted(messages, key=lambda m: re.sub(r":(\d+):", lambda d: f":{int(d.group(1)):012d}:", m))


def exit_process(code: int) -> NoReturn:
    """Exit with `code` without tearing down the interpreter.

    By then every child is stopped, the output written atomically and every
    other file closed or written unbuffered (trace, logs); what is left to
    do is flushing stdio and logging (`procs.exit_now`). The teardown would
    free every module redis-py pulls in and the whole word table, one object
    at a time: 0.05-0.3 s that a user waits for after the job has ended, and
    that Ctrl-C should not wait for either. Exit handlers still run (the
    Docker backend's sweep of containers is one), only the teardown is skipped.
    """
    atexit._run_exitfuncs()
    procs.exit_now(code)


@dataclass
class Outcome:
    """What a finished job of either lab hands its client to report."""

    table: Mapping[str, int] | Ordered  # Ordered when the job reads it back already in order
    warnings: list[str]  # the summary's messages about input files
    elapsed: float
    notes: list[str] = field(default_factory=list)  # refused requests, rejected frames: never silent


def report(outcome: Outcome, inputs: list[InputFile], settings: Settings, verify: bool, out=sys.stdout) -> int:
    """Write the output file, print the summary, and optionally verify."""
    table, warnings, elapsed = outcome.table, outcome.warnings, outcome.elapsed
    emit(outcome.notes, out)  # an attack, or a part speaking another protocol
    # the table's order, once: for the file and for the top words
    ordered = table if isinstance(table, Ordered) else Ordered(table)
    try:
        write_table(ordered, settings.output)
    except OSError as exc:
        raise UserError(f"cannot write output {settings.output!r}: {exc.strerror}") from None
    total_bytes = sum(f.size for f in inputs)
    lines = [f"counted {ordered.total} words ({ordered.distinct} distinct) in {len(inputs)} files, "
             f"{total_bytes / 1e6:.1f} MB, in {elapsed:.2f}s"]
    if settings.top:
        lines.append(f"top {settings.top}:")
        lines += [f"  {count:>10}  {terminal_safe(word)}" for word, count in ordered.top(settings.top)]
    lines += [f"warning: {terminal_safe(message)}" for message in warning_lines(warnings, inputs)]
    lines.append(f"full table: {terminal_safe(os.path.abspath(settings.output))}")
    emit(lines, out)
    if not verify:
        return 0
    t0 = time.perf_counter()
    expected = serial_count((f.path for f in inputs), settings.tokenizer_spec())
    diff = diff_report(expected, ordered.as_dict())
    if diff:
        emit([f"verify: MISMATCH against the serial count\n{diff}"], out)
        return 1
    emit([f"verify: OK, identical to the serial count ({time.perf_counter() - t0:.2f}s)"], out)
    return 0


def emit(lines: Sequence[str], out) -> None:
    """Print summary lines; a reader that went away (`client.py | head`) only
    ends the summary: the table is written and --verify still decides the
    exit status, so that is no error and no traceback."""
    try:
        out.write("".join(f"{line}\n" for line in lines))
        out.flush()
    except BrokenPipeError:
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())  # later writes and the exit flush go nowhere
        except (OSError, ValueError, AttributeError):
            pass
