"""Keeping a run's files to its owner, and secrets out of files altogether.

Students run the labs on shared machines. A run directory holds logs,
settings, checkpoints and the private Redis's data: each run directory is
created 0700 and every file we write there 0600, so another local user can
neither list nor read them. Secrets are never written at all: the Redis URL in
the settings file children read loses its password (children get the server
in $WC_REDIS_URL, and the Lab 2 key in $WC_JOB_KEY; /proc/PID/environ is
readable by the owner only).
"""
from __future__ import annotations

import logging
import os
import stat
from dataclasses import replace
from urllib.parse import urlsplit

from wordcount import atomic
from wordcount.config import Settings

log = logging.getLogger("client")
DIR_MODE = 0o700
FILE_MODE = 0o600
RUN_DIR_NAME = ".wc-run"  # the default run_dir: ours, so tightened even if an older version made it 0755


def owner_only_umask() -> None:
    """Whatever any process of a run creates (logs, Redis's RDB, a student part's files) is
    its owner's only: children inherit the umask. The user's own umask is kept for
    the one file meant for them and others, the output table (atomic.usual_mode)."""
    atomic.remember_user_umask(os.umask(0o077))


def make_dir(path: str) -> str:
    """Create `path` (and missing parents) owner-only; tighten it if it exists and is ours."""
    os.makedirs(path, mode=DIR_MODE, exist_ok=True)
    st = os.stat(path)
    if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, DIR_MODE)
    return path


def make_run_dir(run_dir: str, job: str) -> str:
    """<run_dir>/<job> and its logs/ directory, all 0700.

    run_dir itself is created 0700 when missing; an existing one is tightened
    only if it is the default .wc-run (a user's run_dir may be a shared place
    like /tmp, whose mode is not ours to change). The job directory is 0700
    either way, which is what keeps its contents private.
    """
    if not os.path.isdir(run_dir) or os.path.basename(os.path.normpath(run_dir)) == RUN_DIR_NAME:
        make_dir(run_dir)
    run_path = make_dir(os.path.abspath(os.path.join(run_dir, job)))
    make_dir(os.path.join(run_path, "logs"))
    return run_path


def write_file(path: str, text: str) -> None:
    """Write a text file that only its owner can read (created 0600, tightened if it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), FILE_MODE)
        fh.write(text)


def redact_url(url: str | None) -> str | None:
    """The URL without its password: what may be shown or written down."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    host = f"[{host}]" if ":" in host else host
    user = f"{parts.username}@" if parts.username else ""
    query = "&".join(q for q in parts.query.split("&") if q and not q.lower().startswith("password="))
    netloc = f"{user}{host}{port}"
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def has_password(url: str | None) -> bool:
    try:
        parts = urlsplit(url or "")
        return parts.password is not None or "password=" in parts.query.lower()
    except ValueError:
        return False


def for_children(settings: Settings) -> Settings:
    """The settings written for child processes: no secret in them."""
    return replace(settings, redis_url=redact_url(settings.redis_url))


def warn_if_exposed(url_flag: str | None) -> None:
    """A password given with --redis-url is on our own command line, which every
    local user can read (ps): say so, and where to put it instead."""
    if has_password(url_flag):
        log.warning("the password in --redis-url is visible to every user of this machine (ps, "
                    "/proc/PID/cmdline); pass the URL in $REDIS_URL or a config.json only you can read")
