"""The reaper of one job's containers: `python -m wordcount.docker.reaper --job ID`.

The client starts it next to the job's first container with a pipe on its
stdin (wordcount.docker.server.spawn_reaper). A normal end, a failed job,
Ctrl-C or SIGTERM all remove the container in the client and then stop this
process with SIGTERM. Only if the client dies without doing so (SIGKILL, a
crash of the interpreter) does the pipe close first; then this removes every
container labelled with the job and exits. The SDK is imported before
waiting, so the removal itself takes a fraction of a second.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Sequence

from wordcount.docker.server import sweep
from wordcount.docker.sdk import docker_client, explain
from wordcount.errors import UserError

log = logging.getLogger("docker-reaper")
GIVE_UP_S = 60  # a hung daemon must not keep this process alive for ever


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m wordcount.docker.reaper")
    parser.add_argument("--job", required=True, help="remove the containers labelled with this job id")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal Ctrl-C is the client's to handle
    try:
        client = docker_client(timeout=20)
    except UserError as exc:
        log.error("%s", exc)
        return 2
    sys.stdin.buffer.read()  # returns at EOF: the client is gone without stopping us
    signal.alarm(GIVE_UP_S)
    try:
        removed = sweep(client, job=args.job)
    except Exception as exc:  # the SDK's errors, connection errors: report and give up
        log.error("could not remove the containers of job %s: %s", args.job, explain(exc))
        return 1
    if removed:
        log.warning("the client of job %s died; removed its container(s) %s", args.job, ", ".join(removed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
