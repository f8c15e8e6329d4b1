"""Nobody else on the machine can read a secret of a running job (both labs).

While a Lab 1 and a Lab 2 job run -- one on a private Redis, the other on a
password-protected "external" one given in $REDIS_URL, then the other way
round -- tests/kit/scan_secrets.py runs as user nobody (setpriv): it reads every
/proc/*/cmdline and /proc/*/environ and every file under the jobs' working
directory it can, and tries every token it found against both servers. None
may open either server, and none may be a secret (a Redis password, a
worker's credentials, the Lab 2 key). The same scan as root must succeed
(it reads the workers' environments), which shows the scan itself works.
The working directory is made world-traversable on purpose, outside pytest's
private tmp, so the run directories' own modes are what is tested. Then
every job must still end exact with exit 0.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
from support import (
    assert_same_table,
    make_corpus,
    read_output,
    register_root,
    serial,
    slow_workers,
    start_client,
    started_parts,
    stop_client,
    tagged_processes,
    wait_until,
    write_config,
)

import myrds
from wordcount.record import RunRecord

pytestmark = [pytest.mark.attack, pytest.mark.timeout(180)]
SCANNER = Path(__file__).parent / "kit" / "scan_secrets.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # nobody cannot run root's own interpreter under /root
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


@pytest.fixture
def world(tmp_path):
    """A directory every user may enter (as a student's home or /tmp would be), removed afterwards."""
    if os.geteuid() != 0 or not shutil.which("setpriv") or not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"needs root, setpriv and {SYSTEM_PYTHON} to scan as user nobody")
    work = Path(tempfile.mkdtemp(prefix="wc-scan-", dir="/tmp"))
    os.chmod(work, 0o755)
    register_root(work)  # the Redis servers run there: the leak check must see them
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def scan(ports: list[int], roots: list[Path], as_nobody: bool = True) -> dict:
    spec = json.dumps({"ports": ports, "roots": [str(r) for r in roots]})
    argv = [*(AS_NOBODY if as_nobody else []), SYSTEM_PYTHON, "-c", SCANNER.read_text(), spec]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def start_jobs(world: Path, external: myrds.ManagedServer, stream_external: bool) -> list[tuple]:
    """A Lab 1 and a Lab 2 job, one on `external` (via $REDIS_URL, never argv), one on its own server."""
    jobs = []
    for lab in ("batch", "stream"):
        cwd, data = world / lab, make_corpus(world / f"{lab}-data", n_files=24, words_per_file=800, seed=7)
        on_external = stream_external == (lab == "stream")
        env = {"REDIS_URL": external.url} if on_external else {}
        if lab == "batch":
            write_config(cwd, batch={"workers": 2, "batch_files": 1, "crash": slow_workers(2, 0.25)})
            args = ["--data", data]
        else:
            write_config(cwd, stream={"heartbeat_interval_s": 0.1, "checkpoint_interval_s": 0.25})
            args = ["stream", "--data", data, "--throttle", "0.15"]
        jobs.append((cwd, data, start_client(args, cwd=cwd, env=env)))
    wait_until(lambda: len(started_parts(world / "batch", "w")) == 2, 60, "both Lab 1 workers at work")
    wait_until(lambda: len(started_parts(world / "stream", "mapper-")) == 2, 60, "both Lab 2 mappers at work")
    return jobs


def redis_ports(external: myrds.ManagedServer) -> list[int]:
    """The external server's port and every private one (a redis-server/valkey-server of this test)."""
    ports = {external.port}
    for p in tagged_processes():
        if "server" in p.name():
            ports.update(c.laddr.port for c in p.net_connections(kind="tcp4") if c.status == "LISTEN")
    return sorted(ports)


def secrets_held(external: myrds.ManagedServer) -> set[str]:
    """What must stay private: passwords, worker credentials, the Lab 2 key (read here as root)."""
    held = {external.password}
    for p in tagged_processes():
        env = p.environ()
        for name in ("WC_REDIS_URL", "REDIS_URL"):
            if name in env:
                held.add(env[name].rpartition("@")[0].rpartition(":")[2])
        if "WC_JOB_KEY" in env:
            held.add(env["WC_JOB_KEY"])
    return {s for s in held if s}


def assert_private_modes(root: Path) -> None:
    for run_dir in root.glob("*/.wc-run"):
        for path in [run_dir, *run_dir.rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            wanted = 0o700 if path.is_dir() else 0o600
            assert mode & 0o077 == 0, f"{path} is mode {oct(mode)}, not {oct(wanted)}"


@pytest.mark.parametrize("stream_external", [False, True], ids=["batch-external", "stream-external"])
def test_no_secret_is_readable_by_another_user(world, stream_external):
    external, conn = myrds.start_private(str(world / "external"))
    try:
        jobs = start_jobs(world, external, stream_external)
        ports = redis_ports(external)
        assert len(ports) == 2, ports  # the external server and the one private server
        held = secrets_held(external)
        assert len(held) >= 3, held  # the external password, a worker's credentials, the key
        found = scan(ports, [world])
        assert found["read"]["cmdline"] > 10 and found["read"]["denied"] > 0, found["read"]
        assert not any(found["opened"].values()), f"a token readable by nobody opened Redis: {found['opened']}"
        leaked = held & set(found["tokens"])
        assert not leaked, f"nobody can read {len(leaked)} secret(s)"
        for cwd, _, _ in jobs:
            assert external.password not in (cwd / "config.json").read_text()
        control = scan(ports, [world], as_nobody=False)  # root reads the workers' environments
        assert all(control["opened"].values()), "the scan itself is broken: as root it must open both"
        assert held <= set(control["tokens"])
        for cwd, data, proc in jobs:
            out, err = stop_client(proc, timeout=120)
            assert proc.returncode == 0, f"{out}\n{err}"
            assert_same_table(serial(data), read_output(cwd / "wordcount.tsv"))
            settings = next((cwd / ".wc-run").glob("*/settings.json")).read_text()
            assert external.password not in settings and "WC_JOB_KEY" not in settings
            record = RunRecord.read(next((cwd / ".wc-run").glob("*/run.json")))
            if (cwd.name == "stream") != stream_external:  # the job on its own server saw the guessing
                assert record.redis_refused.get("auth", 0) > 0, record.redis_refused
        assert_private_modes(world)
        for path in (p for p in world.rglob("*") if p.is_file()):  # not even owner-only files hold one
            content = path.read_bytes()
            assert not any(s.encode() in content for s in held), f"{path} holds a secret"
    finally:
        conn.close()
        external.stop()
