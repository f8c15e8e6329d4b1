"""Jobs on a NetLab (tests/kit/netns.py): a Redis server on a host of its
own, and the placement that puts every Lab 2 worker on its own host. Shared
by tests/test_netns.py and tests/measure_partition.py."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable

from support import finish, wait_until

import myrds
from kit.netns import NetLab
from kit.run import Finished, Job
from wordcount import procs

Step = tuple[Callable[[], object], float, str]  # wait_until's (predicate, timeout, what)

LAB2_HOSTS = ["coord", "redis", "m0", "m0b", "m1", "r0", "r1"]
_PING = ("import sys, time, redis\nc = redis.Redis.from_url(sys.argv[1], socket_timeout=1)\n"
         "for _ in range(150):\n    try:\n        c.ping(); sys.exit(0)\n    except redis.RedisError:\n"
         "        time.sleep(0.1)\nsys.exit(1)\n")


def start_redis(lab: NetLab, host: str, client_host: str, data: Path) -> tuple[subprocess.Popen, str]:
    """A Redis server bound to `host`'s address, answering `client_host`; (process, URL)."""
    binary, _ = myrds.find_binary()
    data.mkdir(parents=True, exist_ok=True)
    addr = lab.address(host)
    proc = procs.spawn([*lab.launch(host), binary, "--bind", addr, "--port", "6379", "--save", "",
                        "--appendonly", "no", "--protected-mode", "no", "--dir", str(data), "--daemonize", "no",
                        "--logfile", ""], log_path=str(data / "server.log"), cwd=str(data))
    url = f"redis://{addr}:6379/0"
    ping = subprocess.run([*lab.launch(client_host), sys.executable, "-c", _PING, url], timeout=30)
    if ping.returncode:
        procs.stop(proc)
        raise RuntimeError(f"Redis on {host} ({addr}) never answered")
    return proc, url


def lab2_placement(lab: NetLab, remote_m0: bool = False) -> dict:
    """mapper-0's first incarnation on m0, its replacements on m0b; one host per other worker."""
    def place(host: str) -> dict:
        return {"host": lab.address(host), "launch": lab.launch(host)}
    return {"mapper-0.0": {**place("m0"), "remote": remote_m0}, "mapper-0": place("m0b"), "mapper-1": place("m1"),
            "reducer-0": place("r0"), "reducer-1": place("r1")}


def run_log(cwd: Path, name: str) -> str:
    """Log `name` of the (only) job run in `cwd`, or "" before it exists."""
    paths = list((cwd / ".wc-run").glob(f"*/logs/{name}"))
    return paths[0].read_text(errors="replace") if paths else ""


def cut_while(lab: NetLab, host: str, proc: Job, before: Step, during: list[Step],
              timeout: float = 90) -> Finished:
    """Once `before` holds, cut `host` off until every `during` step held, heal it,
    and return the finished client `proc` (stopped, with its output)."""
    try:
        wait_until(*before)
        lab.cut(host)
        for step in during:
            wait_until(*step)
        lab.heal(host)
    except BaseException:
        finish(proc, 5)
        raise
    return finish(proc, timeout)
